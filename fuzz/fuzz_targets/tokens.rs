//! biscuit tokens as the server checks them: on the WebSocket `auth` message and in the
//! `Authorization` header (`rally::auth::extract::bearer`, then `rally::auth::check_token`,
//! the pure half of `authorize`: signature, Datalog policy, claims). Three issued tokens (a
//! guest, a player, an organiser, signed with a fixed test key) are the base.
//!
//! The first byte picks a mode:
//! - 0: the rest is an `Authorization` header value;
//! - 1: the rest is a token string as the `auth` message carries it;
//! - 2: a valid token's bytes mutated (flips, overwrites, insertions, deletions, truncation);
//! - 3: a valid token attenuated by the holder with a fuzzer-written Datalog block (a holder
//!   may append any block: it must restrict, never widen), then possibly mutated.
//!
//! Invariants: nothing panics; a refused token is 401 `unauthorized`, 403 `forbidden` or
//! 503 `unavailable` (a run limit), never anything else; an accepted token names exactly one
//! of the issued identities (id, role, epoch) — in modes 2 and 3 the very identity of the token
//! it came from — and its role has the right to the operation asked (a mutated or attenuated
//! token never verifies as another player or another role).
#![no_main]

use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use rally::auth::{attenuate, check_token, issue, Claims, Operation, RootKey};
use rally::db::players::Role;
use rally::error::ErrorKind;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A fixed test key, so that a crash reproduces (the tokens differ only by their issue second).
const KEY_HEX: &str = "3b1f6c2e8a4d5f7091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708";

const OPS: [Operation; 6] = [
    Operation::Connect,
    Operation::Account,
    Operation::Play,
    Operation::Spectate,
    Operation::TournamentJoin,
    Operation::Admin,
];

struct Base {
    key: RootKey,
    tokens: Vec<(String, Identity)>,
}

#[derive(Clone, Debug, PartialEq)]
struct Identity {
    id: &'static str,
    role: Role,
    epoch: i64,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let key = RootKey::from_hex(KEY_HEX).expect("test key");
        // Valid until 2100, whenever the fuzzer runs.
        let until = UNIX_EPOCH + Duration::from_secs(4_102_444_800);
        let ttl = until
            .duration_since(SystemTime::now())
            .expect("before 2100");
        let people = [
            ("01JGUEST00000000000000000G", Role::Guest, 0),
            ("01JPLAYER0000000000000000P", Role::Player, 3),
            ("01JORGANISER00000000000000", Role::Organiser, 7),
        ];
        let tokens = people
            .into_iter()
            .map(|(id, role, epoch)| {
                let t = issue(&key, id, role, epoch, ttl).expect("issue");
                (t, Identity { id, role, epoch })
            })
            .collect();
        Base { key, tokens }
    })
}

fn allowed(role: Role, op: Operation) -> bool {
    match op {
        Operation::Connect | Operation::Account | Operation::Play | Operation::Spectate => true,
        Operation::TournamentJoin => role != Role::Guest,
        Operation::Admin => role == Role::Organiser,
    }
}

/// Check `token` for `op`; assert the invariants; `from` is the identity it was derived from.
fn check(token: &str, op: Operation, from: Option<&Identity>) {
    let b = base();
    match check_token(b.key.public(), token, op, "/api/v1/me") {
        Ok(Claims {
            player_id,
            role,
            epoch,
            revocation_ids,
        }) => {
            let got = b
                .tokens
                .iter()
                .map(|(_, i)| i)
                .find(|i| i.id == player_id && i.role == role && i.epoch == epoch)
                .unwrap_or_else(|| {
                    panic!("verified as an identity never issued: {player_id} {role:?} {epoch}")
                });
            if let Some(from) = from {
                assert_eq!(got, from, "a derived token verified as another identity");
            }
            assert!(allowed(role, op), "{role:?} was allowed {op:?}");
            assert!(!revocation_ids.is_empty());
        }
        Err(e) => assert!(
            matches!(
                e.kind,
                ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::Unavailable
            ),
            "refused as {:?}: {}",
            e.kind,
            e.message
        ),
    }
}

/// Apply byte edits read from `edits` (3 bytes each) to `bytes`.
fn mutate(bytes: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks_exact(3).take(16) {
        if bytes.is_empty() {
            return;
        }
        let at = usize::from(e[1]) * bytes.len() / 256;
        match e[0] % 5 {
            0 => bytes[at] ^= 1 << (e[2] % 8),
            1 => bytes[at] = e[2],
            2 => bytes.insert(at, e[2]),
            3 => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
}

fn derived(token: &str, edits: &[u8], op: Operation, from: &Identity) {
    check(token, op, Some(from));
    if edits.is_empty() {
        return;
    }
    let Ok(mut bytes) = base64::decode_config(token, base64::URL_SAFE) else {
        return;
    };
    mutate(&mut bytes, edits);
    check(
        &base64::encode_config(&bytes, base64::URL_SAFE),
        op,
        Some(from),
    );
}

fuzz_target!(|data: &[u8]| {
    let [mode, pick, rest @ ..] = data else {
        return;
    };
    let b = base();
    let op = OPS[usize::from(*pick) % OPS.len()];
    let (token, from) = &b.tokens[usize::from(*pick / 8) % b.tokens.len()];
    match mode % 4 {
        0 => {
            let Ok(value) = HeaderValue::from_bytes(rest) else {
                return;
            };
            let req = actix_web::test::TestRequest::default()
                .insert_header((AUTHORIZATION, value))
                .to_http_request();
            if let Ok(t) = rally::auth::extract::bearer(&req) {
                check(&t, op, None);
            }
        }
        1 => {
            if let Ok(t) = std::str::from_utf8(rest) {
                check(t, op, None);
            }
        }
        2 => derived(token, rest, op, from),
        _ => {
            // A Datalog block, then edits after a NUL.
            let (code, edits) = match rest.iter().position(|&c| c == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let Ok(code) = std::str::from_utf8(code) else {
                return;
            };
            if let Ok(t) = attenuate(token, code) {
                derived(&t, edits, op, from);
            }
        }
    }
});
