//! The config file exactly as written: serde types with spans, before any validation.
//!
//! Each section is deserialized on its own (see `config::load`), so one bad `[[rule]]` does not
//! hide the problems of the next: `check` reports them all.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub path: Option<Text>,
    pub url: Option<Text>,
    pub password_env: Option<Text>,
    pub host: Option<Text>,
    pub retention: Option<Text>,
}

/// `[serve]`: read only by `ftptrigger serve`, checked by every load like the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    pub listen: Option<Text>,
    pub base_path: Option<Text>,
    pub token_env: Option<Text>,
    pub workers: Option<Spanned<u32>>,
    pub scan_every: Option<Text>,
    pub flush_every: Option<Text>,
    pub shutdown_grace: Option<Text>,
    pub callback_secret_env: Option<Text>,
}

/// Declares a section whose keys are its own fields plus the keys of `[defaults]` (which a
/// rule may override one by one), so the two sections list those keys in one place. serde
/// cannot combine `flatten` with `deny_unknown_fields` (nor with spans), hence a macro.
macro_rules! with_settings {
    ($(#[$attr:meta])* pub struct $name:ident { $($own:tt)* }) => {
        $(#[$attr])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($own)*
            pub timeout: Option<Text>,
            pub kill_grace: Option<Text>,
            pub lock_wait: Option<Text>,
            pub duplicates: Option<Text>,
            pub notify: Option<Vec<Text>>,
            pub notify_success: Option<Vec<Text>>,
            pub env_file: Option<Text>,
            pub settle: Option<Text>,
            pub sidecar_wait: Option<Text>,
            pub partials: Option<Vec<Text>>,
            pub partials_after: Option<Text>,
            pub on_success: Option<Spanned<Action>>,
            pub on_failure: Option<Spanned<Action>>,
        }
    };
}

with_settings! {
    /// `[defaults]`.
    pub struct Settings {}
}

with_settings! {
    /// A `[[rule]]`. The required keys are options too: serde stops at the first missing one,
    /// and a rule's other problems must still be found.
    pub struct Rule {
        pub name: Option<Text>,
        pub cid: Option<Text>,
        pub pattern: Option<Text>,
        pub regex: Option<Text>,
        pub root: Option<Text>,
        pub command: Option<Spanned<Vec<Text>>>,
        pub workdir: Option<Text>,
        #[serde(default)]
        pub env: BTreeMap<Text, String>,
        #[serde(default)]
        pub tags: BTreeMap<String, String>,
        pub recursive: Option<bool>,
        pub sidecar: Option<Text>,
        pub mime: Option<Vec<Text>>,
    }
}

impl Rule {
    /// The `[defaults]` keys this rule overrides, taken out of it.
    pub fn settings(&mut self) -> Settings {
        Settings {
            timeout: self.timeout.take(),
            kill_grace: self.kill_grace.take(),
            lock_wait: self.lock_wait.take(),
            duplicates: self.duplicates.take(),
            notify: self.notify.take(),
            notify_success: self.notify_success.take(),
            env_file: self.env_file.take(),
            settle: self.settle.take(),
            sidecar_wait: self.sidecar_wait.take(),
            partials: self.partials.take(),
            partials_after: self.partials_after.take(),
            on_success: self.on_success.take(),
            on_failure: self.on_failure.take(),
        }
    }
}

/// `on_success` / `on_failure`: `{ move_to = "DIR" }`, `{ delete = true }`, or `{}` to leave
/// the upload where it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub move_to: Option<Text>,
    pub delete: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    #[serde(rename = "type")]
    pub kind: String,
    pub smtp: Option<Text>,
    pub transport: Option<Text>,
    pub from: Text,
    pub to: Spanned<Vec<Text>>,
    pub username: Option<String>,
    pub password_env: Option<Text>,
    pub timeout: Option<Text>,
    pub ca_file: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Text,
    pub secret_env: Option<Text>,
    pub bearer_token_env: Option<Text>,
    #[serde(default)]
    pub headers: BTreeMap<Text, String>,
    pub timeout: Option<Text>,
    pub retries: Option<Spanned<u32>>,
    pub ca_file: Option<Text>,
    pub oauth2: Option<OAuth2>,
}

/// A webhook's `oauth2 = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub token_url: Text,
    pub client_id: Text,
    pub client_secret_env: Text,
    pub scope: Option<Text>,
}
