use std::collections::BTreeMap;

/// Validation messages per field, in the shape Django REST framework uses
/// (`{"username": ["This field is required."], "non_field_errors": [...]}`), so the HTTP
/// layer can send them as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl std::fmt::Display for FieldErrors {
    /// `field: message; other: message`, for logs and the command line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One error for one field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every message, each with its field (`expires: …`) unless it is about the whole
    /// input: for places that show one line, not a form.
    pub fn messages(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(field, messages)| {
                messages.iter().map(move |m| match field.as_str() {
                    "non_field_errors" => m.clone(),
                    field => format!("{field}: {m}"),
                })
            })
            .collect()
    }

    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }

    /// `Ok(())` when nothing was recorded, the errors otherwise.
    pub fn into_result(self) -> Result<(), DomainError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self))
        }
    }
}

/// What can go wrong in the domain, independent of how it is served.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("no {0} matches the given query")]
    NotFound(&'static str),
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("internal error: {0}")]
    Internal(String),
}
