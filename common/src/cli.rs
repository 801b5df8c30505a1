//! The command line every service binary shares: `--help`, `--version`,
//! `--healthcheck`, and nothing else. Settings come from the environment and
//! `DELOS_CONFIG`, never from arguments, so an unknown argument is a mistake to
//! refuse rather than a reason to start with the defaults.

/// What the arguments asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Start the service.
    Serve,
    /// Probe the running instance (`--healthcheck`).
    Healthcheck,
    /// Print this text and exit 0.
    Print(String),
    /// Print this text to stderr and exit 2.
    Refuse(String),
}

/// Reads `args` (without the program name) for the service `name`.
pub fn invocation(name: &str, version: &str, about: &str, args: &[String]) -> Invocation {
    match args {
        [] => Invocation::Serve,
        [a] if a == crate::readiness_probe::FLAG => Invocation::Healthcheck,
        [a] if a == "--help" || a == "-h" => Invocation::Print(help(name, version, about)),
        [a] if a == "--version" || a == "-V" => Invocation::Print(format!("{name} {version}")),
        _ => Invocation::Refuse(format!(
            "{name}: unexpected argument{} {}\n\
             settings come from the environment (see `{name} --help`); the only options are \
             --help, --version and {}",
            if args.len() > 1 { "s" } else { "" },
            args.join(" "),
            crate::readiness_probe::FLAG
        )),
    }
}

fn help(name: &str, version: &str, about: &str) -> String {
    let upper = name.to_ascii_uppercase();
    format!(
        "{name} {version}\n{about}\n\n\
         Usage: {name} [--healthcheck | --help | --version]\n\n\
         With no argument the service starts. Options:\n  \
         --healthcheck  ask the running instance's /readyz and exit 0 if it is ready (container healthchecks)\n  \
         -h, --help     print this help\n  \
         -V, --version  print the version\n\n\
         Configuration (defaults, then the file named by DELOS_CONFIG, then the environment):\n  \
         DELOS__<SECTION>__<KEY>         shared settings, e.g. DELOS__PG__URL, DELOS__REDIS__URL\n  \
         DELOS_{upper}__<SECTION>__<KEY>  this service's own, e.g. DELOS_{upper}__HTTP__PORT\n  \
         DELOS__SERVICE_TOKEN            the token of internal calls\n\
         Every setting, its default and its variable: docs/configuration.md, or `delos describe`."
    )
}

/// Acts on the process's arguments: prints and exits for `--help`/`--version`,
/// exits 2 for anything unknown; returns true when `--healthcheck` was asked.
pub fn handle(name: &str, version: &str, about: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match invocation(name, version, about, &args) {
        Invocation::Serve => false,
        Invocation::Healthcheck => true,
        Invocation::Print(text) => {
            println!("{text}");
            std::process::exit(0)
        }
        Invocation::Refuse(text) => {
            eprintln!("{text}");
            std::process::exit(2)
        }
    }
}

/// [`handle`] with the calling crate's name, version and description.
#[macro_export]
macro_rules! handle_args {
    () => {
        $crate::cli::handle(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_DESCRIPTION"),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(args: &[&str]) -> Invocation {
        let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
        invocation("health_check", "0.1.0", "Collects heartbeats.", &args)
    }

    #[test]
    fn help_version_and_healthcheck_are_the_only_arguments() {
        assert_eq!(of(&[]), Invocation::Serve);
        assert_eq!(of(&["--healthcheck"]), Invocation::Healthcheck);
        assert_eq!(of(&["-V"]), Invocation::Print("health_check 0.1.0".into()));
        assert_eq!(of(&["--version"]), Invocation::Print("health_check 0.1.0".into()));
        let Invocation::Print(help) = of(&["--help"]) else {
            panic!("--help prints")
        };
        assert!(help.contains("DELOS_HEALTH_CHECK__HTTP__PORT"), "{help}");
        for bad in [
            &["--port", "9000"][..],
            &["serve"],
            &["--help", "--version"],
            &["-x"],
        ] {
            assert!(matches!(of(bad), Invocation::Refuse(_)), "{bad:?}");
        }
    }
}
