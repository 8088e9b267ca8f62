//! A flow's and a flow-stage binding's settings that are closed sets, with authentik's
//! names and defaults (the catalog's choices come from here).

use crate::choice::choice_enum;

choice_enum! {
    /// What a flow is for; the interface and `/flows/-/default/<designation>/` use it.
    pub enum Designation {
        Authentication = "authentication",
        Authorization = "authorization",
        Invalidation = "invalidation",
        Enrollment = "enrollment",
        Unenrollment = "unenrollment",
        Recovery = "recovery",
        StageConfiguration = "stage_configuration",
        AccountSelection = "account_selection",
    }
}

choice_enum! {
    /// Who may start a flow (authentik's `authentication` requirement).
    pub enum Authentication {
        default None = "none",
        RequireAuthenticated = "require_authenticated",
        RequireUnauthenticated = "require_unauthenticated",
        RequireSuperuser = "require_superuser",
        RequireRedirect = "require_redirect",
        RequireOutpost = "require_outpost",
        RequireToken = "require_token",
    }
}

choice_enum! {
    /// What a visitor whom the flow's policies refuse sees.
    pub enum DeniedAction {
        /// The policies' messages, unless the link names `next`: then go there.
        default MessageContinue = "message_continue",
        /// The policies' messages.
        Message = "message",
        /// Straight on to `next` (or `/`).
        Continue = "continue",
    }
}

choice_enum! {
    /// Where the flow's card stands on the page.
    pub enum Layout {
        default Stacked = "stacked",
        ContentLeft = "content_left",
        ContentRight = "content_right",
        SidebarLeft = "sidebar_left",
        SidebarRight = "sidebar_right",
        SidebarLeftFrameBackground = "sidebar_left_frame_background",
        SidebarRightFrameBackground = "sidebar_right_frame_background",
    }
}

choice_enum! {
    /// What a stage does with a response it rejects (a flow-stage binding's setting).
    pub enum InvalidResponseAction {
        /// Show the challenge again with the errors.
        default Retry = "retry",
        /// Start the flow over.
        Restart = "restart",
        /// Start the flow over, keeping what was collected.
        RestartWithContext = "restart_with_context",
    }
}
