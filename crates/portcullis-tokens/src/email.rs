//! E-mail verification, Extole's first way to a verified token: an identified device token asks
//! for a one-time code sent to the e-mail address it claimed; entering the code proves the
//! address and makes the token verified, as a server-to-server `verify` would. Mail goes out
//! through the operator's SMTP relay (`lettre`).

use super::records::IdentityRecord;
use super::store::{Space, StoreError};
use super::{Found, ServiceError, TokenService};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_core::digest::{digest_hex as digest, same_secret};
use portcullis_core::principal::{now_unix, Level};
use portcullis_core::problem::TokenProblem;
use rand::Rng;
use std::time::Duration;

/// Wrong codes a token may enter before it must ask for a new one.
const MAX_ATTEMPTS: u32 = 5;
/// Least time between two codes for one token (a mailbox is not a free channel).
const RESEND_AFTER: u64 = 30;

/// `[token_service.email_verification]` compiled.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// A lettre SMTP URL: `smtp://[user:password@]host[:port]` (plain, or STARTTLS with
    /// `?tls=required`), `smtps://…` (TLS).
    pub smtp_url: String,
    pub from: String,
    pub subject: String,
    /// Seconds a code stays good.
    pub code_ttl: u64,
}

/// Whether `[token_service.email_verification]` can work: the relay URL and the sender.
pub fn check(smtp_url: &str, from: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
        .map_err(|e| format!("smtp_url: {e}"))?;
    from.parse::<Mailbox>()
        .map_err(|e| format!("from: {from:?} is not a mailbox ({e})"))?;
    Ok(())
}

/// The relay connection, made once.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: EmailSettings,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.settings.from)
            .finish()
    }
}

impl Mailer {
    pub fn new(settings: EmailSettings) -> Result<Self, String> {
        check(&settings.smtp_url, &settings.from)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|e| e.to_string())?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = settings.from.parse().map_err(|e| format!("{e}"))?;
        Ok(Self {
            transport,
            from,
            settings,
        })
    }

    async fn send_code(&self, to: Mailbox, code: &str) -> Result<(), String> {
        let minutes = self.settings.code_ttl.div_ceil(60);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&self.settings.subject)
            .body(format!(
                "Your verification code is {code}.\n\nIt is good for {minutes} minutes. If you did not ask for it, ignore this message.\n"
            ))
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// A code sent for one token.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct EmailCode {
    code_sha256: String,
    sent_at: u64,
    expires_at: u64,
    attempts: u32,
}

fn code_key(token: &str) -> String {
    format!("email:{}", digest(token))
}

/// Why a code was not sent or not taken.
#[derive(Debug)]
pub enum EmailError {
    Service(ServiceError),
    /// The token is not an identified device token that claimed this address.
    NotClaimed,
    /// A code was sent less than `RESEND_AFTER` seconds ago; seconds to wait.
    TooSoon(u64),
    /// The relay did not take the message.
    Relay,
    /// No code, an expired one, a wrong one, or too many tries.
    WrongCode,
}

impl From<StoreError> for EmailError {
    fn from(e: StoreError) -> Self {
        EmailError::Service(ServiceError::Store(e))
    }
}

impl From<ServiceError> for EmailError {
    fn from(e: ServiceError) -> Self {
        EmailError::Service(e)
    }
}

impl TokenService {
    /// Sends a one-time code to `email`, which the identified device token `token` must have
    /// claimed (`identify`); a new code replaces an earlier one. Returns the code's lifetime.
    pub async fn send_email_code(&self, token: &str, email: &str) -> Result<u64, EmailError> {
        let mailer = self.mailer.as_ref().ok_or(EmailError::Relay)?;
        let found = self.live(token).await?;
        let address: Mailbox = email.parse().map_err(|_| EmailError::NotClaimed)?;
        let identity_key = format!("email:{}", email.to_lowercase());
        let claimed: Option<IdentityRecord> =
            self.records().get(Space::Identities, &identity_key).await?;
        let claims_it = found.record.level == Level::Identified
            && claimed.is_some_and(|p| found.record.claimed_profile.as_deref() == Some(&p.id));
        if !claims_it {
            return Err(EmailError::NotClaimed);
        }
        let key = code_key(token);
        let now = now_unix();
        let earlier: Option<EmailCode> = self.records().get(Space::Codes, &key).await?;
        if let Some(earlier) = earlier.filter(|e| e.sent_at + RESEND_AFTER > now) {
            return Err(EmailError::TooSoon(earlier.sent_at + RESEND_AFTER - now));
        }
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
        let ttl = mailer.settings.code_ttl;
        let record = EmailCode {
            code_sha256: digest(&code),
            sent_at: now,
            expires_at: now + ttl,
            attempts: 0,
        };
        self.records()
            .put(Space::Codes, &key, &record, record.expires_at)
            .await?;
        mailer.send_code(address, &code).await.map_err(|e| {
            tracing::warn!(error = %e, "the SMTP relay did not take a verification code");
            EmailError::Relay
        })?;
        Ok(ttl)
    }

    /// Takes the code sent for `token`: the right one makes the token verified (and spends
    /// the code); a wrong one counts, and after `MAX_ATTEMPTS` the code is dead.
    pub async fn confirm_email_code(&self, token: &str, code: &str) -> Result<Found, EmailError> {
        let key = code_key(token);
        let records = self.records();
        let now = now_unix();
        let Some(mut sent) = records
            .get::<EmailCode>(Space::Codes, &key)
            .await?
            .filter(|s| s.expires_at > now && s.attempts < MAX_ATTEMPTS)
        else {
            return Err(EmailError::WrongCode);
        };
        if !same_secret(&digest(code.trim()), &sent.code_sha256) {
            sent.attempts += 1;
            records
                .put(Space::Codes, &key, &sent, sent.expires_at)
                .await?;
            return Err(EmailError::WrongCode);
        }
        // Spent before use: a code proves the address once.
        records.put(Space::Codes, &key, &sent, now).await?;
        let found = self.live(token).await?;
        if found.record.level != Level::Identified {
            return Err(EmailError::Service(ServiceError::Invalid(
                TokenProblem::WrongType,
            )));
        }
        Ok(self.elevate(token).await?)
    }
}
