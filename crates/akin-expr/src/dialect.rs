//! From an authentik expression body to Starlark: Python features Starlark lacks are found
//! first (with the line and what to write instead), `x is None` becomes `x == None`, and
//! the body is wrapped into the function authentik would call.

use akin_domain::policy::ExpressionError;

/// The handler's parameters: what authentik passes as an expression's locals.
pub const PARAMETERS: &[&str] = &[
    "request",
    "context",
    "http_request",
    "ak_client_ip",
    "ak_is_sso_flow",
];
/// A property mapping's parameters (authentik's `PropertyMappingEvaluator`): a prompt's
/// computed placeholder or initial value.
pub const MAPPING_PARAMETERS: &[&str] = &["user", "request", "prompt_context", "dry_run"];
/// Public (no leading underscore) so evaluations can import it from the frozen module.
pub const HANDLER: &str = "akin_policy_handler";

/// The most words and symbols an expression may have. Parsing recurses once per nesting
/// level or chained operator; within this bound the compiler's stack (`COMPILE_STACK`)
/// holds the deepest expression, so no expression can overflow it and abort the server.
pub const MAX_TOKENS: usize = 10_000;

/// Lines the wrapper puts before the body; errors are reported in the body's own lines.
pub const WRAPPER_LINES: usize = 1;
/// The body's indentation inside the wrapper.
pub const INDENT: usize = 4;

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    /// A string literal with its prefix (`f`, `r`, `b`, …), and where it started.
    Str {
        prefix: &'a str,
    },
    Other,
}

struct Scanned<'a> {
    token: Token<'a>,
    start: usize,
    end: usize,
}

/// Splits `source` into words, string literals and everything else, skipping comments,
/// enough to rewrite and check keywords without touching the insides of strings.
fn scan(source: &str) -> Vec<Scanned<'_>> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') && i - start <= 2 {
                let prefix = &source[start..i];
                if prefix
                    .chars()
                    .all(|c| matches!(c.to_ascii_lowercase(), 'r' | 'b' | 'f' | 'u'))
                {
                    i = skip_string(bytes, i);
                    tokens.push(Scanned {
                        token: Token::Str { prefix },
                        start,
                        end: i,
                    });
                    continue;
                }
            }
            tokens.push(Scanned {
                token: Token::Word(&source[start..i]),
                start,
                end: i,
            });
        } else if c == b'"' || c == b'\'' {
            let start = i;
            i = skip_string(bytes, i);
            tokens.push(Scanned {
                token: Token::Str { prefix: "" },
                start,
                end: i,
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            tokens.push(Scanned {
                token: Token::Other,
                start,
                end: i,
            });
        } else {
            if !c.is_ascii_whitespace() {
                tokens.push(Scanned {
                    token: Token::Other,
                    start: i,
                    end: i + 1,
                });
            }
            i += 1;
        }
    }
    tokens
}

/// The end of the string literal starting at `i` (a quote), triple quotes included.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    let quote = bytes[i];
    let triple = bytes.len() >= i + 3 && bytes[i + 1] == quote && bytes[i + 2] == quote;
    i += if triple { 3 } else { 1 };
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if !triple {
                return i + 1;
            }
            if bytes.len() >= i + 3 && bytes[i + 1] == quote && bytes[i + 2] == quote {
                return i + 3;
            }
        } else if bytes[i] == b'\n' && !triple {
            return i;
        }
        i += 1;
    }
    i
}

/// 1-based line and column of byte `offset`.
pub fn position(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, column)
}

/// What to write instead of a Python keyword Starlark does not have.
fn unsupported(word: &str) -> Option<&'static str> {
    Some(match word {
        "while" => "`while` loops are not available: use `for i in range(n):` with a bound",
        "try" | "except" | "finally" | "raise" => {
            "exceptions are not available: check values with `if` (an error fails the policy \
             with its binding's failure result)"
        }
        "import" => {
            "imports are not available: the helpers (regex_match, regex_replace, ip_address, \
             ip_network, ak_user_by, …) are built in"
        }
        "class" => "classes are not available: use dicts, structs or functions",
        "global" | "nonlocal" => "`global` is not available: return values from functions",
        "with" => "`with` is not available: there are no files or resources to manage",
        "yield" | "async" | "await" => "generators and async code are not available",
        "del" => "`del` is not available: use `dict.pop(key)` or build a new value",
        _ => return None,
    })
}

/// Rejects Python features the dialect lacks, naming the line and the alternative.
pub fn check_features(body: &str) -> Result<(), ExpressionError> {
    let tokens = scan(body);
    if tokens.len() > MAX_TOKENS {
        return Err(ExpressionError {
            line: 1,
            column: 1,
            message: format!("the expression is too long: at most {MAX_TOKENS} words and symbols"),
        });
    }
    for scanned in &tokens {
        let found = match &scanned.token {
            // `from` only starts an import at the start of a statement (`x = y from …`
            // is not Python), which is the case after a newline or at the start.
            Token::Word("from") if starts_statement(body, scanned.start) => {
                Some("imports are not available: the helpers are built in")
            }
            Token::Word(word) => unsupported(word),
            Token::Str { prefix } if prefix.to_ascii_lowercase().contains('f') => {
                let literal = &body[scanned.start..scanned.end];
                (!simple_f_string(literal)).then_some(
                    "f-strings may only name plain variables (f\"{name}\"); use \
                     \"%s\" % value or + for anything else",
                )
            }
            _ => None,
        };
        if let Some(message) = found {
            let (line, column) = position(body, scanned.start);
            return Err(ExpressionError {
                line,
                column,
                message: message.to_owned(),
            });
        }
    }
    Ok(())
}

fn starts_statement(body: &str, offset: usize) -> bool {
    body[..offset]
        .rsplit('\n')
        .next()
        .is_none_or(|before| before.trim().is_empty())
}

/// An f-string whose placeholders are plain names, which Starlark supports.
fn simple_f_string(literal: &str) -> bool {
    let mut rest = literal;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        let Some(close) = after.find('}') else {
            return false;
        };
        let inner = after[..close].trim();
        if inner.is_empty()
            || !inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || inner.starts_with(|c: char| c.is_ascii_digit())
        {
            return false;
        }
        rest = &after[close + 1..];
    }
    true
}

/// `a is not b` → `a != b`, `a is b` → `a == b` (Starlark has no identity operator; for
/// None, True and False equality means the same).
pub fn rewrite_identity(body: &str) -> String {
    let tokens = scan(body);
    let mut out = String::with_capacity(body.len());
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].token == Token::Word("is") {
            let negated = tokens.get(i + 1).map(|t| &t.token) == Some(&Token::Word("not"));
            let end = if negated {
                tokens[i + 1].end
            } else {
                tokens[i].end
            };
            out.push_str(&body[copied..tokens[i].start]);
            out.push_str(if negated { "!=" } else { "==" });
            // Keep the width so columns in later errors stay right.
            let width = end - tokens[i].start;
            out.extend(std::iter::repeat_n(' ', width.saturating_sub(2)));
            copied = end;
            i += if negated { 2 } else { 1 };
            continue;
        }
        i += 1;
    }
    out.push_str(&body[copied..]);
    out
}

/// The module Starlark runs: the handler with the body indented inside.
pub fn wrap(body: &str, parameters: &[&str]) -> String {
    let mut module = format!("def {HANDLER}({}):\n", parameters.join(", "));
    let mut empty = true;
    for line in body.lines() {
        if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            empty = false;
        }
        module.push_str(&" ".repeat(INDENT));
        module.push_str(line);
        module.push('\n');
    }
    if empty {
        // An empty body returns None, which fails, as in authentik.
        module.push_str(&" ".repeat(INDENT));
        module.push_str("return None\n");
    }
    module
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_becomes_equality_outside_strings() {
        assert_eq!(
            rewrite_identity("return x is not None and y is None # is"),
            "return x !=     None and y == None # is"
        );
        assert_eq!(
            rewrite_identity("return 'a is b' == \"\"\"is\"\"\""),
            "return 'a is b' == \"\"\"is\"\"\""
        );
        assert_eq!(rewrite_identity("return this_is(x)"), "return this_is(x)");
    }

    #[test]
    fn python_features_are_named_with_their_line() {
        let error = check_features("x = 1\nwhile True:\n    pass").unwrap_err();
        assert_eq!((error.line, error.column), (2, 1));
        assert!(
            error.message.contains("for i in range"),
            "{}",
            error.message
        );
        assert!(check_features("import os").is_err());
        assert!(check_features("from os import path").is_err());
        assert!(check_features("try:\n  x()\nexcept:\n  pass").is_err());
        assert!(check_features("return f\"{user.name}\"").is_err());
        assert!(check_features("return f\"{name}!\"").is_ok());
        assert!(check_features("return 'while' in context # import").is_ok());
        assert!(check_features("return request.context.get('invitation_in_effect')").is_ok());
    }

    #[test]
    fn bodies_are_wrapped_and_indented() {
        let module = wrap("x = 1\nreturn x", PARAMETERS);
        assert!(module.starts_with("def akin_policy_handler(request, context,"));
        assert!(module.contains("\n    x = 1\n    return x\n"));
        assert!(wrap("# nothing", PARAMETERS).contains("return None"));
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("ab", 0), (1, 1));
    }
}
