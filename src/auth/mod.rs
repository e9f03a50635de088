//! Authentication and authorization with biscuit tokens.
//!
//! # Token contents (authority block, signed with the root key)
//! ```text
//! user("01J…");            // player id
//! role("player");          // guest | player | organiser
//! epoch(0);                // players.token_epoch at issue time
//! expires(2026-11-27T…Z);  // informational
//! check if time($t), $t <= 2026-11-27T…Z;
//! ```
//!
//! # The one authorization function
//! [`authorize`] is called on every authenticated HTTP request (through the extractors), at
//! WebSocket connect, and again when a session joins or spectates a room. It adds the ambient
//! facts `time(now)`, `operation("…")`, `resource("…")` and the role policy below, so checks
//! a holder appends (attenuation, see docs/auth.md) restrict what the token can do:
//! ```text
//! right("guest", "connect"); right("guest", "account"); right("guest", "play"); right("guest", "spectate");
//! right("player", $op) <- right("guest", $op);  right("player", "tournament:join");
//! right("organiser", $op) <- right("player", $op);  right("organiser", "admin");
//! allow if role($r), operation($op), right($r, $op);
//! deny if true;
//! ```
//! Facts in appended blocks are not trusted by the authorizer's rules, so a holder cannot add
//! `role("organiser")` to widen a token. Then the database is consulted: the player must
//! exist, the token's epoch must match (a role change invalidates older tokens), and no
//! revocation id of the token may be revoked (logout).

pub mod extract;
pub mod keys;
pub mod password;
pub mod ratelimit;

use crate::db::{players, Db};
use crate::error::{AppError, AppResult};
use crate::ids::PlayerId;
use biscuit_auth::builder::{date, fact, string, Term};
use biscuit_auth::error::{FailedCheck, Logic, Token as TokenError};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit, BiscuitBuilder, PublicKey};
pub use keys::RootKey;
use players::Role;
use std::time::{Duration, SystemTime};

/// biscuit run limits, set explicitly: the library's default of 1 ms wall clock is exceeded on
/// a busy 2-core machine. 1000 facts / 100 iterations easily cover the policy above plus a
/// holder's attenuation blocks; 50 ms bounds a hostile token. Hitting a limit is a 503.
pub const RUN_LIMITS: AuthorizerLimits = AuthorizerLimits {
    max_facts: 1000,
    max_iterations: 100,
    max_time: Duration::from_millis(50),
};

/// Largest token accepted, in bytes of base64 (an authority block is ~300 bytes; this leaves
/// room for several attenuation blocks).
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Open a WebSocket session.
    Connect,
    /// Read or manage one's own account (me, logout, refresh, upgrade).
    Account,
    /// Take a seat in a room / quick match / private room.
    Play,
    /// Watch a room.
    Spectate,
    /// Join or leave a tournament.
    TournamentJoin,
    /// Organiser administration.
    Admin,
}

impl Operation {
    /// Datalog name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::Account => "account",
            Operation::Play => "play",
            Operation::Spectate => "spectate",
            Operation::TournamentJoin => "tournament:join",
            Operation::Admin => "admin",
        }
    }
}

/// The authorizer's role policy (see the module docs).
pub const POLICY: &str = r#"
right("guest", "connect");
right("guest", "account");
right("guest", "play");
right("guest", "spectate");
right("player", $op) <- right("guest", $op);
right("player", "tournament:join");
right("organiser", $op) <- right("player", $op);
right("organiser", "admin");
allow if role($r), operation($op), right($r, $op);
deny if true;
"#;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Player id.
    pub player_id: PlayerId,
    /// Player name.
    pub name: String,
    /// Role from the token (equal to the stored role, since epochs match).
    pub role: Role,
    /// The token's revocation ids (hex), for logout.
    pub revocation_ids: Vec<String>,
    /// Current rating (for matchmaking).
    pub rating: f64,
}

/// Claims read from a verified, authorized token.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    /// Player id.
    pub player_id: String,
    /// Role.
    pub role: Role,
    /// Token epoch.
    pub epoch: i64,
    /// Revocation ids (hex).
    pub revocation_ids: Vec<String>,
}

/// Issue a token for a player.
pub fn issue(
    key: &RootKey,
    player_id: &str,
    role: Role,
    epoch: i64,
    ttl: Duration,
) -> AppResult<String> {
    let exp = SystemTime::now() + ttl;
    let token = BiscuitBuilder::new()
        .fact(fact("user", &[string(player_id)]))
        .and_then(|b| b.fact(fact("role", &[string(role.as_str())])))
        .and_then(|b| b.fact(fact("epoch", &[Term::Integer(epoch)])))
        .and_then(|b| b.fact(fact("expires", &[date(&exp)])))
        .and_then(|b| {
            b.code_with_params(
                "check if time($t), $t <= {exp}",
                [("exp".to_string(), date(&exp))].into_iter().collect(),
                Default::default(),
            )
        })
        .and_then(|b| b.build(key.keypair()))
        .and_then(|t| t.to_base64())
        .map_err(|e| AppError::internal(anyhow::anyhow!("cannot issue token: {e}")))?;
    Ok(token)
}

fn hex_ids(token: &Biscuit) -> Vec<String> {
    token
        .revocation_identifiers()
        .iter()
        .map(hex::encode)
        .collect()
}

/// Verify the signature and run the Datalog policy for `operation` on `resource`. Pure: no
/// database. 401 for anything wrong with the token itself (forged, malformed, expired), 403
/// when a valid token lacks the right (role, or an attenuation check), 503 on a run limit.
pub fn check_token(
    public: PublicKey,
    token: &str,
    operation: Operation,
    resource: &str,
) -> AppResult<Claims> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AppError::unauthorized("token too large"));
    }
    let biscuit = Biscuit::from_base64(token.trim(), public)
        .map_err(|_| AppError::unauthorized("invalid token"))?;
    let mut authorizer = AuthorizerBuilder::new()
        .set_limits(RUN_LIMITS)
        .time()
        .fact(fact("operation", &[string(operation.as_str())]))
        .and_then(|b| b.fact(fact("resource", &[string(resource)])))
        .and_then(|b| b.code(POLICY))
        .and_then(|b| b.build(&biscuit))
        .map_err(map_biscuit_error)?;
    authorizer.authorize().map_err(map_biscuit_error)?;
    let rows: Vec<(String, String, i64)> = authorizer
        .query("data($u, $r, $e) <- user($u), role($r), epoch($e)")
        .map_err(map_biscuit_error)?;
    let [(player_id, role, epoch)]: [(String, String, i64); 1] = rows
        .try_into()
        .map_err(|_| AppError::unauthorized("token does not name exactly one user"))?;
    let role =
        Role::parse(&role).ok_or_else(|| AppError::unauthorized("token has an unknown role"))?;
    Ok(Claims {
        player_id,
        role,
        epoch,
        revocation_ids: hex_ids(&biscuit),
    })
}

fn map_biscuit_error(e: TokenError) -> AppError {
    match &e {
        TokenError::RunLimit(_) => {
            AppError::unavailable("authorization limit reached, retry").with_cause(e)
        }
        TokenError::FailedLogic(Logic::Unauthorized { checks, .. })
        | TokenError::FailedLogic(Logic::NoMatchingPolicy { checks }) => {
            let authority_failed = checks
                .iter()
                .any(|c| matches!(c, FailedCheck::Block(b) if b.block_id == 0));
            if authority_failed {
                AppError::unauthorized("token expired")
            } else {
                AppError::forbidden("this token does not allow that")
            }
        }
        TokenError::FailedLogic(_) => AppError::unauthorized("invalid token"),
        _ => AppError::unauthorized("invalid token"),
    }
}

/// The one authorization entry point: token checks ([`check_token`]) then the database
/// (player exists, epoch current, not revoked).
pub async fn authorize(
    db: &Db,
    key: &RootKey,
    token: &str,
    operation: Operation,
    resource: &str,
) -> AppResult<Principal> {
    counted(authorize_inner(db, key, token, operation, resource, None).await)
}

/// Count a refused token in `rally_auth_failures_total`.
fn counted(result: AppResult<Principal>) -> AppResult<Principal> {
    if let Err(e) = &result {
        let reason = match e.kind {
            crate::error::ErrorKind::Unauthorized => Some("invalid_token"),
            crate::error::ErrorKind::Forbidden => Some("forbidden"),
            _ => None,
        };
        if let Some(reason) = reason {
            metrics::counter!("rally_auth_failures_total", "reason" => reason).increment(1);
        }
    }
    result
}

async fn authorize_inner(
    db: &Db,
    key: &RootKey,
    token: &str,
    operation: Operation,
    resource: &str,
    checkout: Option<std::time::Duration>,
) -> AppResult<Principal> {
    let claims = check_token(key.public(), token, operation, resource)?;
    let ids = claims.revocation_ids.clone();
    let pid = claims.player_id.clone();
    let (row, revoked) = db
        .run_within(checkout, move |c| {
            Ok((players::by_id(c, &pid)?, players::any_revoked(c, &ids)?))
        })
        .await?;
    let row = row.ok_or_else(|| AppError::unauthorized("token names an unknown player"))?;
    if revoked {
        return Err(AppError::unauthorized("token revoked"));
    }
    if row.token_epoch != claims.epoch || row.role() != claims.role {
        return Err(AppError::unauthorized(
            "token outdated (role or account changed); log in again",
        ));
    }
    Ok(Principal {
        player_id: PlayerId(row.id),
        name: row.name,
        role: claims.role,
        revocation_ids: claims.revocation_ids,
        rating: row.rating,
    })
}

/// How long a re-authorization waits for a database connection before falling back to the
/// session's principal: a join must not wait out the pool's 5 s when the database is down.
pub const REAUTHORIZE_CHECKOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// [`authorize`] for a session that was authorized at connect as `known`: the token's checks
/// always run (an attenuated token still cannot do what it does not allow), and when the
/// database cannot be asked (`unavailable`) the session keeps the principal it was admitted
/// with — a player seated before a database outage can still join their room and play. Nothing
/// can be revoked while the database is down (revocations are stored in it); a revocation made
/// before the outage is caught at the next check once the database answers.
pub async fn reauthorize(
    db: &Db,
    key: &RootKey,
    token: &str,
    operation: Operation,
    resource: &str,
    known: &Principal,
) -> AppResult<Principal> {
    let fallback = |e: AppError| -> AppResult<Principal> {
        let claims = check_token(key.public(), token, operation, resource)?;
        if claims.player_id != known.player_id.0 {
            return Err(e);
        }
        tracing::debug!(player = %known.player_id, "database unavailable; keeping the session's principal");
        Ok(known.clone())
    };
    if !db.answering() {
        // Known down: do not make the player wait for a connection that will not come.
        return counted(fallback(AppError::unavailable("database unavailable")));
    }
    counted(
        match authorize_inner(
            db,
            key,
            token,
            operation,
            resource,
            Some(REAUTHORIZE_CHECKOUT),
        )
        .await
        {
            Err(e) if e.kind == crate::error::ErrorKind::Unavailable => fallback(e),
            other => other,
        },
    )
}

/// Most brackets and negations [`attenuate`] accepts in a Datalog block, counted as
/// [`datalog_openings`] does. biscuit's text parser recurses once per nesting level and
/// overflowed the 8 MiB main-thread stack (SIGSEGV) at about 2,000 levels in a debug build —
/// found twice by the `tokens` fuzz target. The count bounds the nesting whatever the parser
/// takes for a string or a comment; real checks use a handful.
pub const MAX_DATALOG_OPENINGS: usize = 256;

/// Longest Datalog block [`attenuate`] accepts, in bytes. biscuit's parser builds a chain of
/// binary operators (`1+1+1…`) as a tree as deep as the chain and walks it recursively: 60,000
/// operators overflowed the stack in a debug build, 20,000 did not. Real blocks are a few
/// hundred bytes.
pub const MAX_DATALOG_BYTES: usize = 16 * 1024;

/// The number of opening brackets (`(`, `[`, `{`) and negations (`!`) anywhere in `code`, in
/// string literals and comments too: an upper bound of the recursion depth biscuit's Datalog
/// parser needs for `code`.
///
/// Counted everywhere on purpose. A first version measured the depth and skipped string
/// literals; the fuzzer then nested 5,000 levels behind a comment holding a quote
/// (`// "` on one line, the nesting on the next), which the parser skips as a comment and the
/// measure took for the start of a string. No reading of the text can disagree with the
/// parser's here.
pub fn datalog_openings(code: &str) -> usize {
    code.chars()
        .filter(|c| matches!(c, '(' | '[' | '{' | '!'))
        .count()
}

/// Most negations (`!` not followed by `=`) [`attenuate`] accepts in a Datalog block.
///
/// biscuit's parser backtracks: when an operand after a chain of negations fails to parse,
/// every negation of the chain tries the rest again, and groups nested behind such chains
/// multiply. A 309-byte block with 141 negations around failing groups took 20 s of CPU (a
/// `tokens` fuzz timeout). With at most 16 the product stays in the hundreds; real checks use
/// one or two.
pub const MAX_DATALOG_NEGATIONS: usize = 16;

/// The number of `!` in `code` that are not directly followed by `=` (so `!=` does not count),
/// anywhere, strings and comments included: a `!` right before `=` can never be a negation.
pub fn datalog_negations(code: &str) -> usize {
    let mut chars = code.chars().peekable();
    let mut n = 0;
    while let Some(c) = chars.next() {
        if c == '!' && chars.peek() != Some(&'=') {
            n += 1;
        }
    }
    n
}

/// Append a block of Datalog checks to a token (attenuation). Needs no key. A block with more
/// than [`MAX_DATALOG_BYTES`] bytes, [`MAX_DATALOG_OPENINGS`] brackets and negations or
/// [`MAX_DATALOG_NEGATIONS`] negations is refused before it is parsed.
pub fn attenuate(token: &str, code: &str) -> anyhow::Result<String> {
    let unverified = biscuit_auth::UnverifiedBiscuit::from_base64(token.trim())
        .map_err(|e| anyhow::anyhow!("not a biscuit token: {e}"))?;
    if code.len() > MAX_DATALOG_BYTES {
        anyhow::bail!(
            "invalid Datalog: the block is {} bytes, more than {MAX_DATALOG_BYTES}",
            code.len()
        );
    }
    let openings = datalog_openings(code);
    if openings > MAX_DATALOG_OPENINGS {
        anyhow::bail!(
            "invalid Datalog: {openings} brackets and negations (`(`, `[`, `{{`, `!`, counted in strings and comments too), more than {MAX_DATALOG_OPENINGS}: nested this deep, the parser would overflow its stack"
        );
    }
    let negations = datalog_negations(code);
    if negations > MAX_DATALOG_NEGATIONS {
        anyhow::bail!(
            "invalid Datalog: {negations} negations (`!`, counted in strings and comments too), more than {MAX_DATALOG_NEGATIONS}: the parser's backtracking over them grows exponentially"
        );
    }
    let block = biscuit_auth::builder::BlockBuilder::new()
        .code(code)
        .map_err(|e| anyhow::anyhow!("invalid Datalog: {e}"))?;
    let attenuated = unverified
        .append(block)
        .map_err(|e| anyhow::anyhow!("cannot append block: {e}"))?;
    attenuated
        .to_base64()
        .map_err(|e| anyhow::anyhow!("cannot encode token: {e}"))
}

/// Print a token's blocks (no verification).
pub fn inspect(token: &str) -> anyhow::Result<String> {
    let unverified = biscuit_auth::UnverifiedBiscuit::from_base64(token.trim())
        .map_err(|e| anyhow::anyhow!("not a biscuit token: {e}"))?;
    let mut out = String::new();
    for i in 0..unverified.block_count() {
        let src = unverified
            .print_block_source(i)
            .map_err(|e| anyhow::anyhow!("block {i}: {e}"))?;
        out.push_str(&format!("// block {i}\n{src}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RootKey {
        RootKey::generate()
    }

    #[test]
    fn deeply_nested_attenuation_is_refused_not_a_stack_overflow() {
        // Found by fuzz/fuzz_targets/tokens.rs: thousands of nested parentheses or negations
        // made biscuit's parser overflow the stack (SIGSEGV); the second time behind a comment
        // holding a quote, which a string-skipping depth measure took for a string.
        let k = key();
        let t = issue(&k, "p1", Role::Player, 0, Duration::from_secs(60)).unwrap();
        for code in [
            format!("check if {}true{};", "(".repeat(3000), ")".repeat(3000)),
            format!("check if {}true;", "(".repeat(200) + &"!".repeat(100)),
            format!("check if {}true{};", "(!".repeat(200), ")".repeat(200)),
            format!(
                "// \"\ncheck if {}true{};",
                "(".repeat(5000),
                ")".repeat(5000)
            ),
            format!(
                "/* \" */\ncheck if {}true{};",
                "(".repeat(5000),
                ")".repeat(5000)
            ),
            format!("check if \"{}\" == \"x\";", "(".repeat(300)),
        ] {
            let e = attenuate(&t, &code).unwrap_err().to_string();
            assert!(e.contains("brackets and negations"), "{e}");
        }
        // Up to the limit it is parsed as before; the result verifies and still narrows.
        let depth = MAX_DATALOG_OPENINGS - 1;
        let ok = format!(
            "check if operation($op), {}$op == \"spectate\"{};",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        assert_eq!(datalog_openings(&ok), MAX_DATALOG_OPENINGS);
        let narrowed = attenuate(&t, &ok).unwrap();
        assert!(check_token(k.public(), &narrowed, Operation::Spectate, "room:x").is_ok());
        assert!(check_token(k.public(), &narrowed, Operation::Play, "room:x").is_err());
        // Negations around failing groups made the parser backtrack for 20 s (a fuzz timeout).
        let slow = "check if\t!!!!!!!!!!!!! \"a\" / (!!!!!!!!!!!!!!! \"a\" / (!!!!!!!!!!! \"a\" / (!!!!!!!!!!!!!!! \"a\" / (\u{1}";
        let e = attenuate(&t, slow).unwrap_err().to_string();
        assert!(e.contains("negations"), "{e}");
        let e = attenuate(&t, &format!("check if {}true;", "!".repeat(6000)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("brackets and negations"), "{e}");
        // Up to the limit, even arranged the same way, the parser answers (with an error).
        let worst = "check if !!!! \"a\" / (!!!! \"a\" / (!!!! \"a\" / (!!!! \"a\" / (\u{1}";
        assert_eq!(datalog_negations(worst), MAX_DATALOG_NEGATIONS);
        assert!(attenuate(&t, worst).is_err());
        assert!(attenuate(&t, "check if !false, 1 != 2;").is_ok());
        assert_eq!(datalog_negations("check if !a, $x != 1, \"!\";"), 2);
        // A long operator chain nests as deep as it is long.
        let chain = format!("check if 1{} == 2;", "+1".repeat(60_000));
        let e = attenuate(&t, &chain).unwrap_err().to_string();
        assert!(e.contains("bytes, more than"), "{e}");
        let chain = format!("check if 1{} == 2;", "+1".repeat(5_000));
        assert!(attenuate(&t, &chain).is_ok());
        // Counted everywhere: in strings, comments and `!=` too.
        assert_eq!(
            datalog_openings(r#"check if user($u), $u != "((((!!!!";"#),
            10
        );
        assert_eq!(datalog_openings("// ((\n/* [ */ check if !a;"), 4);
    }

    #[test]
    fn roles_map_to_rights() {
        let k = key();
        let t = issue(&k, "p1", Role::Player, 0, Duration::from_secs(60)).unwrap();
        assert!(check_token(k.public(), &t, Operation::Play, "room:x").is_ok());
        assert!(check_token(k.public(), &t, Operation::TournamentJoin, "t:x").is_ok());
        let e = check_token(k.public(), &t, Operation::Admin, "admin").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Forbidden);
        let g = issue(&k, "p2", Role::Guest, 0, Duration::from_secs(60)).unwrap();
        let e = check_token(k.public(), &g, Operation::TournamentJoin, "t:x").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Forbidden);
        let o = issue(&k, "p3", Role::Organiser, 3, Duration::from_secs(60)).unwrap();
        let c = check_token(k.public(), &o, Operation::Admin, "admin").unwrap();
        assert_eq!(
            (c.player_id.as_str(), c.role, c.epoch),
            ("p3", Role::Organiser, 3)
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_unauthorized() {
        let k = key();
        let other = key();
        let t = issue(&other, "p1", Role::Organiser, 0, Duration::from_secs(60)).unwrap();
        let e = check_token(k.public(), &t, Operation::Account, "self").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Unauthorized);
        let e = check_token(k.public(), "garbage", Operation::Account, "self").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Unauthorized);
    }

    #[test]
    fn expired_tokens_are_unauthorized() {
        let k = key();
        let t = issue(&k, "p1", Role::Player, 0, Duration::ZERO).unwrap();
        // biscuit dates have one-second resolution.
        std::thread::sleep(Duration::from_millis(1100));
        let e = check_token(k.public(), &t, Operation::Account, "self").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Unauthorized);
        assert_eq!(e.message, "token expired");
    }

    #[test]
    fn attenuation_restricts_and_cannot_widen() {
        let k = key();
        let t = issue(&k, "p1", Role::Player, 0, Duration::from_secs(60)).unwrap();
        let spectate_only = attenuate(
            &t,
            r#"check if operation($op), ["connect", "spectate"].contains($op);"#,
        )
        .unwrap();
        assert!(check_token(k.public(), &spectate_only, Operation::Spectate, "room:a").is_ok());
        let e = check_token(k.public(), &spectate_only, Operation::Play, "room:a").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Forbidden);
        let widened = attenuate(&t, r#"role("organiser"); right("player", "admin");"#).unwrap();
        let e = check_token(k.public(), &widened, Operation::Admin, "admin").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Forbidden);
    }
}
