//! The one place where errors become HTTP responses, in Django REST framework's shapes:
//! `{"detail": "…"}` for 403/404/405/413/415, `{"field": ["…"]}` for 400.

use akin_domain::{DomainError, FieldErrors};
use akin_store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    #[error("Token invalid/expired")]
    TokenInvalid,
    #[error("Unsupported authentication type")]
    UnsupportedAuthentication,
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    #[error("CSRF Failed: Origin checking failed - this request did not come from this site.")]
    CsrfFailed,
    /// `what` is the model's name as DRF spells it in "No User matches the given query."
    #[error("No {0} matches the given query.")]
    NotFound(&'static str),
    #[error("Not found.")]
    NoRoute,
    #[error("Invalid page.")]
    InvalidPage,
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("JSON parse error - {0}")]
    JsonParse(String),
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
    #[error("Request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("Method \"{0}\" not allowed.")]
    MethodNotAllowed(String),
    #[error("A server error occurred.")]
    Internal(String),
    /// Overloaded for now (password hashing's queue is full): 503 with `Retry-After`.
    #[error("The server is busy checking passwords; try again in a moment.")]
    Busy { retry_after_seconds: u64 },
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::single(field, message))
    }

    /// Maps a storage error for a write to model `model` (e.g. "user"): a unique violation
    /// becomes DRF's "user with this username already exists." on that field.
    pub fn from_store_write(model: &'static str) -> impl Fn(StoreError) -> ApiError {
        move |error| match error {
            StoreError::Unique { field } => {
                let message = format!("{model} with this {field} already exists.");
                ApiError::Validation(FieldErrors::single(field, message))
            }
            StoreError::MissingReference => {
                ApiError::field("non_field_errors", "A referenced object does not exist.")
            }
            other => other.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotAuthenticated
            | ApiError::TokenInvalid
            | ApiError::UnsupportedAuthentication
            | ApiError::Forbidden
            | ApiError::CsrfFailed => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute | ApiError::InvalidPage => {
                StatusCode::NOT_FOUND
            }
            ApiError::Validation(_) | ApiError::JsonParse(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidPage => ApiError::InvalidPage,
            StoreError::Unique { field } => {
                ApiError::Validation(FieldErrors::single(field, "This field must be unique."))
            }
            StoreError::MissingReference => {
                ApiError::field("non_field_errors", "A referenced object does not exist.")
            }
            StoreError::LastSuperuser => {
                ApiError::field("non_field_errors", StoreError::LastSuperuser.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound(what) => ApiError::NotFound(what),
            DomainError::Validation(errors) => ApiError::Validation(errors),
            DomainError::PermissionDenied(_) => ApiError::Forbidden,
            DomainError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl From<akin_flow::FlowError> for ApiError {
    fn from(error: akin_flow::FlowError) -> Self {
        match error {
            akin_flow::FlowError::NotFound(what) => ApiError::NotFound(what),
            akin_flow::FlowError::Store(e) => e.into(),
            akin_flow::FlowError::Domain(e) => e.into(),
            akin_flow::FlowError::Internal(message) => ApiError::Internal(message),
            akin_flow::FlowError::Busy {
                retry_after_seconds,
            } => ApiError::Busy {
                retry_after_seconds,
            },
        }
    }
}

impl From<akin_flow::objects::WriteError> for ApiError {
    fn from(error: akin_flow::objects::WriteError) -> Self {
        match error {
            akin_flow::objects::WriteError::Invalid(errors) => ApiError::Validation(errors),
            akin_flow::objects::WriteError::Store(e) => e.into(),
        }
    }
}

impl From<akin_store::GroupWriteError> for ApiError {
    fn from(error: akin_store::GroupWriteError) -> Self {
        match error {
            akin_store::GroupWriteError::Invalid(e) => e.into(),
            akin_store::GroupWriteError::Store(e) => ApiError::from_store_write("group")(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Validation(errors) => json!(errors),
            ApiError::Internal(internal) => {
                // The cause goes to the log, never to the client.
                tracing::error!(error = %internal, "request failed");
                json!({"detail": self.to_string()})
            }
            _ => json!({"detail": self.to_string()}),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Busy {
            retry_after_seconds,
        } = self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_seconds),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
