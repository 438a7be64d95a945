//! `showroom-trust`: an installation's NATS keys and credentials (see `docs/security.md`).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match showroom_trust::run(&args) {
        Ok(report) => {
            print!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("showroom-trust: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
