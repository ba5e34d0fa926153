//! billrun's webhook sender ([`billrun_app::ports::WebhookSender`]): requests signed as
//! the Standard Webhooks specification says ([`signature`]), sent over HTTPS to hosts
//! resolved and checked at every connection ([`policy`], [`client`]).

pub mod client;
pub mod policy;
pub mod signature;

pub use client::HttpWebhookSender;
pub use policy::UrlPolicy;
