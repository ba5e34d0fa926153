//! Where the local mode's emails go: an SMTP server (`--smtp URL`) or, without one,
//! `.eml` files in a folder (`--mail-dir DIR`; the demo's `OUT/mail`), from
//! `--mail-from ADDRESS`.

use billrun_app::app::DeliveryPorts;
use billrun_app::ports::{DeliveryStore, Mailer};
use std::path::PathBuf;
use std::sync::Arc;

/// The transport and the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOptions {
    pub transport: Transport,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `smtp://host:port` (plain only to loopback, STARTTLS otherwise) or `smtps://`.
    Smtp(String),
    /// Each message as `<dir>/<message id>.eml`.
    Dir(PathBuf),
}

impl MailOptions {
    /// The options the flags give: `None` when neither `--smtp` nor a folder is given.
    /// `--mail-from` is required with either, and must be a plain address.
    pub fn from_flags(
        smtp: Option<String>,
        dir: Option<PathBuf>,
        from: Option<String>,
    ) -> Result<Option<MailOptions>, String> {
        let transport = match (smtp, dir) {
            (Some(url), _) => Transport::Smtp(url),
            (None, Some(dir)) => Transport::Dir(dir),
            (None, None) => {
                if from.is_some() {
                    return Err("--mail-from needs --smtp or --mail-dir".into());
                }
                return Ok(None);
            }
        };
        let from = from.ok_or("--mail-from ADDRESS is required with --smtp or --mail-dir")?;
        if let Some(why) = billrun_domain::email::address_problem(&from) {
            return Err(format!("--mail-from: {why}"));
        }
        Ok(Some(MailOptions { transport, from }))
    }

    /// The delivery ports over `store`.
    pub fn ports(&self, store: Arc<dyn DeliveryStore>) -> Result<DeliveryPorts, String> {
        let mailer: Arc<dyn Mailer> = match &self.transport {
            Transport::Smtp(url) => Arc::new(
                billrun_mail::SmtpMailer::from_url(url).map_err(|e| format!("--smtp: {e}"))?,
            ),
            Transport::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                Arc::new(billrun_mail::EmlDirMailer::new(dir.clone()))
            }
        };
        Ok(DeliveryPorts {
            store,
            mailer,
            from: self.from.clone(),
        })
    }

    /// Where the messages go, for a person (the URL without its credentials).
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(url) => match url.split_once('@') {
                Some((scheme_and_user, host)) => {
                    let scheme = scheme_and_user.split("://").next().unwrap_or("smtp");
                    format!("{scheme}://{host}")
                }
                None => url.clone(),
            },
            Transport::Dir(dir) => format!("{}/*.eml", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_needs_a_sender_and_a_sender_needs_a_transport() {
        assert_eq!(MailOptions::from_flags(None, None, None), Ok(None));
        assert!(MailOptions::from_flags(None, None, Some("a@example.com".into())).is_err());
        assert!(MailOptions::from_flags(Some("smtp://127.0.0.1:25".into()), None, None).is_err());
        assert!(MailOptions::from_flags(None, Some("m".into()), Some("bad".into())).is_err());
        let o = MailOptions::from_flags(
            Some("smtps://user:secret@mail.example.com:465".into()),
            Some("ignored".into()),
            Some("billing@example.com".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.describe(), "smtps://mail.example.com:465");
    }
}
