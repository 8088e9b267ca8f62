//! The state one evaluation carries, reached from built-ins through `eval.extra`.
// starlark's `ProvidesStaticType` derive (how `eval.extra` downcasts) expands to an
// `unsafe impl`; it is sound by construction and this module holds nothing else.
#![allow(unsafe_code)]

use std::cell::RefCell;

use akin_domain::policy::{PolicyDirectory, PolicyRequest};
use starlark::any::ProvidesStaticType;
use starlark::values::FrozenValue;

#[derive(ProvidesStaticType)]
pub struct EvalState<'a> {
    /// `ak_message(...)` texts.
    pub messages: RefCell<Vec<String>>,
    /// `ak_logger` and `print` lines.
    pub logs: RefCell<Vec<String>>,
    /// How many messages `ak_send_email` queued.
    pub mail_sent: RefCell<usize>,
    pub directory: &'a dyn PolicyDirectory,
    pub request: &'a PolicyRequest,
    /// Built-ins returning True and False, for user methods such as
    /// `has_usable_password()`.
    pub constant_true: FrozenValue,
    pub constant_false: FrozenValue,
    /// When this evaluation must stop; policies it calls get only what is left.
    pub deadline: std::time::Instant,
}

impl starlark::PrintHandler for EvalState<'_> {
    fn println(&self, text: &str) -> starlark::Result<()> {
        self.logs.borrow_mut().push(text.to_owned());
        Ok(())
    }
}
