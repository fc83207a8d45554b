//! `cargo bench -p r2e-tools`: native tools against R2E-Gym's scripts.
//!
//! Set `R2E_GYM_TOOLS` to the directory of R2E-Gym's tool scripts (and
//! `R2E_GYM_PYTHON` to a Python with chardet) to time the reference too.

fn main() {
    let reference = r2e_tools::bench::reference_dir();
    let python = std::env::var("R2E_GYM_PYTHON").unwrap_or_else(|_| "python3".into());
    match r2e_tools::bench::bench(reference.as_deref(), &python, 30) {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
