//! Validated identifiers. Ids are compared byte-wise (document numbering order).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

fn check_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_ID_LEN {
        return Err(format!("must be at most {MAX_ID_LEN} bytes"));
    }
    if s.chars().any(|c| c.is_control() || c == '#') {
        return Err("must not contain control characters or '#'".into());
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// The text is shared: a clone is a reference-count increment, so the ids that
        /// documents, outcomes and billing state copy from the book cost no allocation.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, String> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(Arc::from(s)))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(AccountId);
id_type!(SubscriptionId);
id_type!(ChargeId);
id_type!(UsageId);
id_type!(AdjustmentId);
id_type!(ScheduleId);
id_type!(ScheduleItemId);
id_type!(
    /// A recurring run schedule.
    RunScheduleId
);
id_type!(
    /// A webhook endpoint (chosen by the client that registers it).
    WebhookEndpointId
);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An invoice run.
    RunId
);
uuid_id!(
    /// A document, derived from (run, account, group key): see [`DocumentId::derive`].
    DocumentId
);
uuid_id!(
    /// A request to generate the PDF files of a run's documents.
    DocumentRequestId
);

uuid_id!(
    /// A request to email a run's posted documents to their accounts.
    DeliveryRequestId
);

uuid_id!(
    /// A payment recorded against an invoice.
    PaymentId
);

uuid_id!(
    /// The delivery of one event to one webhook endpoint: a UUID v5 of both, so a
    /// dispatcher that runs again finds the delivery it made.
    WebhookDeliveryId
);

const DOCUMENT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6b1f_3c2e_9a4d_4e5b_8c7d_0f1e_2a3b_4c5d);

impl DocumentId {
    /// The same (run, account, group key) always gives the same id, so a redelivered
    /// message writes the same document and finds it already there.
    pub fn derive(run: RunId, account: &AccountId, group_key: &str) -> Self {
        let mut name = Vec::with_capacity(16 + account.as_str().len() + group_key.len() + 1);
        name.extend_from_slice(run.0.as_bytes());
        name.extend_from_slice(account.as_str().as_bytes());
        name.push(0);
        name.extend_from_slice(group_key.as_bytes());
        DocumentId(uuid::Uuid::new_v5(&DOCUMENT_NAMESPACE, &name))
    }
}

uuid_id!(
    /// An export of a run's documents or lines written to a file (S3; locally, the out
    /// folder).
    ExportId
);
