//! The vocabulary of refusals that lower layers share: why a token was not accepted. Each has
//! one fixed description, so nothing a client sent is ever echoed back (SECURITY.md ER-5).

/// Why a token was not accepted. Each has one fixed description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Malformed,
    UnsupportedAlgorithm,
    ForbiddenHeader,
    WrongType,
    UnknownIssuer,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    WrongAudience,
    MissingClaim,
    BadClaim,
    Inactive,
    Revoked,
}

impl TokenProblem {
    pub fn description(self) -> &'static str {
        match self {
            TokenProblem::Malformed => "malformed token",
            TokenProblem::UnsupportedAlgorithm => "unsupported algorithm",
            TokenProblem::ForbiddenHeader => "forbidden token header",
            TokenProblem::WrongType => "wrong token type",
            TokenProblem::UnknownIssuer => "unknown issuer",
            TokenProblem::UnknownKey => "unknown key",
            TokenProblem::BadSignature => "invalid signature",
            TokenProblem::Expired => "expired",
            TokenProblem::NotYetValid => "not yet valid",
            TokenProblem::IssuedInFuture => "issued in the future",
            TokenProblem::WrongAudience => "wrong audience",
            TokenProblem::MissingClaim => "missing claim",
            TokenProblem::BadClaim => "invalid claim",
            TokenProblem::Inactive => "inactive token",
            TokenProblem::Revoked => "revoked",
        }
    }
}
