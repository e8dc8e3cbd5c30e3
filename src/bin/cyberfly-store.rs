//! `cyberfly-store check [--json] PATH`: verify a closed store without
//! changing it (`cyberfly_store::check`). Prints a readable report (or the
//! report as JSON with `--json`) and exits 0 when the store is clean, 1 when
//! problems were found, 2 when the check could not run (the store is open,
//! the directory cannot be read, bad usage).

use std::process::ExitCode;

const USAGE: &str = "usage: cyberfly-store check [--json] PATH\n\n\
verifies a closed store (index, blobs and operation log against each other)\n\
without changing it; exit status 0 clean, 1 problems found, 2 error";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut json = false;
    let mut path = None;
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("check") => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    for a in it {
        match a.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            p if path.is_none() && !p.starts_with("--") => path = Some(p.to_string()),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match cyberfly_store::check(&path) {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!(
                "cyberfly-store check: {path}: {e} (error code {})",
                e.code() as u32
            );
            ExitCode::from(2)
        }
    }
}
