//! `showroom-dev`: runs the whole Showroom system on this machine until Ctrl-C (see the crate
//! docs in `lib.rs`). `deploy/dev.sh` installs what is missing, builds, then runs this.

use std::process::ExitCode;

fn main() -> ExitCode {
    // One thread is plenty (the services are separate processes), and it forks every service,
    // which ties their parent-death signal to the life of this process.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("showroom-dev: cannot start the Tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(showroom_dev::run())
}
