use std::fmt;

/// A position in the blueprint text, 1-based, as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Why a blueprint was refused, and where. Displayed as `line:column: message`; the
/// caller puts the file name in front.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BlueprintError {
    pub at: Option<Pos>,
    /// 0-based index of the entry the error is in, when it is in one.
    pub entry: Option<usize>,
    pub message: String,
}

impl BlueprintError {
    pub fn new(at: Pos, message: impl Into<String>) -> Self {
        Self {
            at: Some(at),
            entry: None,
            message: message.into(),
        }
    }

    pub fn without_position(message: impl Into<String>) -> Self {
        Self {
            at: None,
            entry: None,
            message: message.into(),
        }
    }

    pub fn in_entry(mut self, entry: usize) -> Self {
        self.entry.get_or_insert(entry);
        self
    }
}

impl fmt::Display for BlueprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = self.at {
            write!(f, "{at}: ")?;
        }
        if let Some(entry) = self.entry {
            write!(f, "entry {entry}: ")?;
        }
        f.write_str(&self.message)
    }
}

pub type BlueprintResult<T> = Result<T, BlueprintError>;
