//! The `rampart` binary: parse the command line, load the config, start the
//! chosen mode. Nothing else lives here.

use std::process::ExitCode;

/// The ingest path allocates many small strings per request; mimalloc keeps
/// that cheap and unfragmented where glibc's allocator spends a third of the
/// CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use rampart::cli::{Cli, Command, RulesCommand, TsdbCommand};
use rampart::config::relay::RelayConfig;
use rampart::config::{Config, LogConfig};
use rampart::{backup_cmd, credentials, relay, rules, server, telemetry, tls, tsdb_cmd, verify_cmd};

/// How long mimalloc keeps freed memory before it returns it to the OS,
/// unless `MIMALLOC_PURGE_DELAY` says otherwise. Its default, 10 ms, made
/// the next request after a pause pay for the `madvise` calls (and the
/// transparent huge page splits they cause) of what earlier requests
/// freed: on an idle server that was most of a small query's latency. A
/// second still hands memory back to the OS soon after a burst.
const ALLOCATOR_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// `mi_option_purge_delay` and `mi_option_allow_thp` in mimalloc's
/// `mi_option_t` (`mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Tunes the allocator before anything else runs. Each setting yields to
/// its `MIMALLOC_*` environment variable.
///
/// Transparent huge pages are turned off for the process (as
/// `MIMALLOC_ALLOW_THP=0` would): with them, the first touch of fresh heap
/// memory zeroes a whole 2 MiB page, and the store under a relay's load
/// spent 18% of its CPU in page faults. Without them the store used 9%
/// less CPU for the same writes and queries were no slower.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a documented mimalloc option; any value is valid.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: as above.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) }
        // mimalloc applies the option when it starts, before `main`; this
        // does what it would have done.
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_THP_DISABLE takes no pointers.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::All(args) => {
            let mut config = Config::load(&args.serve)?;
            let relay = args.relay_config.as_deref().map(RelayConfig::from_file).transpose()?;
            telemetry::init_logging(&config.log);
            if args.tls_self_signed_development {
                config.tls = tls::development::self_signed(&config.tls, &config.data_dir, config.listen)?;
            }
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server::run_all(config, relay))
        }
        Command::Store(args) => {
            let config = Config::load(&args)?;
            telemetry::init_logging(&config.log);
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server::run(config))
        }
        Command::Relay(args) => {
            let config = RelayConfig::load(&args)?;
            telemetry::init_logging(&config.log);
            relay::check_exposure(&config, args.insecure_no_auth)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(relay::run(config, server::shutdown_signal()))
        }
        Command::HashSecret(args) => {
            let mut out = std::io::stdout().lock();
            Ok(credentials::hash_secret_command(args.generate, std::io::stdin().lock(), &mut out)?)
        }
        Command::Backup(args) => {
            telemetry::init_logging(&LogConfig::default());
            backup_cmd::run(&args, &mut std::io::stdout().lock())
        }
        Command::Tsdb(cmd) => {
            telemetry::init_logging(&LogConfig { level: "warn".into(), ..LogConfig::default() });
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match cmd {
                TsdbCommand::Stats(args) => tsdb_cmd::stats(&args, &mut out),
                TsdbCommand::Dump(args) => tsdb_cmd::dump(&args, &mut out),
            }
        }
        Command::Verify(args) => {
            telemetry::init_logging(&LogConfig { level: "warn".into(), ..LogConfig::default() });
            if verify_cmd::run(&args, &mut std::io::stdout().lock())? {
                Ok(())
            } else {
                anyhow::bail!("verification of {} found problems", args.data_dir.display())
            }
        }
        Command::Rules(RulesCommand::Check(args)) => {
            if rules::check::run(&args.files, &mut std::io::stdout().lock())? {
                Ok(())
            } else {
                anyhow::bail!("some rule files are invalid")
            }
        }
        Command::Rules(RulesCommand::Test(args)) => {
            if rules::unittest::run(&args.files, &mut std::io::stdout().lock(), &mut std::io::stderr().lock())? {
                Ok(())
            } else {
                anyhow::bail!("some rule tests failed")
            }
        }
    }
}
