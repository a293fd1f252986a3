//! `understudy keygen`: a new Ed25519 key pair for signing promotion records.

use std::path::PathBuf;

use understudy::gate::promotion;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Make a key pair for signing promotion records.
///
/// `understudy gate -o FILE` signs with the secret key (--signing-key or
/// $UNDERSTUDY_SIGNING_KEY_FILE); `understudy live` trusts only records signed by the key
/// whose public half it is given (--public-key or $UNDERSTUDY_PUBLIC_KEY_FILE). The secret
/// key file is written with mode 0600: keep it where gate runs (a CI secret, a vault), never
/// next to live. Each file is one line: `understudy-ed25519-secret <base64>` or
/// `understudy-ed25519-public <base64>`. Existing files are never overwritten (exit 2).
/// Prints the key id (`sha256:` and 16 hex digits of the public key's hash).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write `understudy-signing.key` and `understudy-signing.pub` in this folder (made if
    /// missing; default: the current folder).
    #[arg(long, value_name = "DIR", alias = "out-dir", conflicts_with_all = ["secret", "public"])]
    out: Option<PathBuf>,
    /// Where to write the secret key.
    #[arg(long, value_name = "FILE", requires = "public")]
    secret: Option<PathBuf>,
    /// Where to write the public key.
    #[arg(long, value_name = "FILE", requires = "secret")]
    public: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (secret, public) = match (args.secret, args.public) {
        (Some(s), Some(p)) => (s, p),
        _ => {
            let dir = args.out.unwrap_or_else(|| PathBuf::from("."));
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("error: cannot make {}: {e}", dir.display());
                return Ok(EXIT_BAD_INPUT);
            }
            (dir.join("understudy-signing.key"), dir.join("understudy-signing.pub"))
        }
    };
    if secret == public {
        eprintln!("error: --secret and --public are both {}: the two halves need two files", secret.display());
        return Ok(EXIT_BAD_INPUT);
    }
    let key = promotion::generate_key();
    match promotion::write_key_pair(&secret, &public, &key) {
        Ok(()) => {
            println!("key id {}", promotion::key_id(&key.verifying_key()));
            println!("secret key: {} (mode 0600: for `understudy gate --signing-key`)", secret.display());
            println!("public key: {} (for `understudy live --public-key`)", public.display());
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_BAD_INPUT)
        }
    }
}
