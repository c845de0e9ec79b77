//! What an `apt-get install` would do to the packages already installed, read from its
//! simulation (`apt-get -s install …`), and whether set-up may go ahead.
//!
//! An install can remove packages (a dependency conflicts with them: Debian 12's
//! `qemu-system-misc` 7.2 needs `qemu-system-common` 7.2, which breaks a backports `qemu-utils`
//! 10.0) and downgrade others, and `apt-get install -y` does both without asking. So set-up
//! simulates first and, when anything installed would be removed or downgraded, lists it and
//! stops unless the user agreed (`--allow-removals`, or `CI=true` on a throw-away CI machine).
//! The real install then runs with `--no-remove` whenever nothing was to be removed, and never
//! with `--allow-downgrades` unless downgrades were listed and agreed, so it cannot do more than
//! the simulation showed. Parsing and decisions are pure and tested on recorded simulations;
//! [`simulate_install`] runs the simulation on this host.

use std::cmp::Ordering;
use std::fmt;
use std::process::Command;
use std::time::Duration;

use crate::debian_version;
use crate::error::XtaskError;
use crate::process::{Echo, display_command, run_captured};

/// The longest `apt-get -s install` may take (it reads the package lists only).
const SIMULATION_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// A package at a version, e.g. `qemu-utils 1:10.0.2+ds-2+deb13u1~bpo12+1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackageVersion {
    /// The package name as apt prints it (with `:<arch>` for a foreign architecture).
    pub(crate) package: String,
    /// The version (empty when apt printed none).
    pub(crate) version: String,
}

/// An installed package that would be replaced by another version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VersionChange {
    /// The package name as apt prints it.
    pub(crate) package: String,
    /// The version installed now.
    pub(crate) installed: String,
    /// The version apt would install.
    pub(crate) candidate: String,
}

/// What an `apt-get install` would do, from the `Inst` and `Remv` lines of its simulation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AptPlan {
    /// Packages not installed now that would be installed: `Inst pkg (version …)`.
    pub(crate) new: Vec<PackageVersion>,
    /// Installed packages that would get a newer version: `Inst pkg [old] (new …)`, new > old.
    pub(crate) upgrades: Vec<VersionChange>,
    /// Installed packages that would get an older version: `Inst pkg [old] (new …)`, new < old.
    pub(crate) downgrades: Vec<VersionChange>,
    /// Installed packages that would be removed: `Remv pkg [version]` (or `Purg`).
    pub(crate) removals: Vec<PackageVersion>,
}

impl AptPlan {
    /// Reads the output of `apt-get -s install …` (run with `LC_ALL=C`; the action lines are not
    /// translated anyway). Lines other than `Inst`, `Remv` and `Purg` are ignored; a reinstall at
    /// the same version is neither an upgrade nor a downgrade.
    pub(crate) fn parse(simulation: &str) -> Self {
        let mut plan = Self::default();
        for line in simulation.lines() {
            let line = line.trim();
            if let Some(rest) = line
                .strip_prefix("Remv ")
                .or_else(|| line.strip_prefix("Purg "))
            {
                let (package, rest) = first_word(rest);
                plan.removals.push(PackageVersion {
                    package: package.to_owned(),
                    version: bracketed(rest).unwrap_or_default().to_owned(),
                });
            } else if let Some(rest) = line.strip_prefix("Inst ") {
                plan.add_install(rest);
            }
        }
        plan
    }

    /// One `Inst` line after the keyword: `pkg [installed] (candidate release [arch])`, the
    /// bracket only for an installed package.
    fn add_install(&mut self, rest: &str) {
        let (package, rest) = first_word(rest);
        let installed = bracketed(rest);
        let candidate = rest
            .split_once('(')
            .map(|(_, inside)| first_word(inside).0.trim_end_matches(')'))
            .unwrap_or_default();
        let package = package.to_owned();
        let Some(installed) = installed else {
            self.new.push(PackageVersion {
                package,
                version: candidate.to_owned(),
            });
            return;
        };
        let change = VersionChange {
            package,
            installed: installed.to_owned(),
            candidate: candidate.to_owned(),
        };
        match debian_version::compare(candidate, installed) {
            Ordering::Less => self.downgrades.push(change),
            Ordering::Greater => self.upgrades.push(change),
            Ordering::Equal => {}
        }
    }

    /// The installed packages this plan removes or downgrades (empty when it only adds and
    /// upgrades).
    pub(crate) fn installed_changes(&self) -> InstalledChanges {
        InstalledChanges {
            removals: self.removals.clone(),
            downgrades: self.downgrades.clone(),
        }
    }
}

/// The first whitespace-separated word of `text` and the rest after it.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    text.split_once(char::is_whitespace).unwrap_or((text, ""))
}

/// The text inside a `[…]` at the start of `text` (after spaces).
fn bracketed(text: &str) -> Option<&str> {
    text.trim_start()
        .strip_prefix('[')?
        .split_once(']')
        .map(|(inside, _)| inside)
}

/// Installed packages an install would remove or downgrade: what set-up never does silently.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InstalledChanges {
    /// Packages that would be removed, at their installed version.
    pub(crate) removals: Vec<PackageVersion>,
    /// Packages that would be downgraded.
    pub(crate) downgrades: Vec<VersionChange>,
}

impl InstalledChanges {
    /// Whether nothing installed would be removed or downgraded.
    pub(crate) fn is_empty(&self) -> bool {
        self.removals.is_empty() && self.downgrades.is_empty()
    }
}

impl fmt::Display for InstalledChanges {
    /// One line per package, indented: `  remove    qemu-utils 1:10.0.2+ds-2` and
    /// `  downgrade qemu-system-common 1:10.0.2+ds-2 -> 1:7.2+dfsg-7`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for removal in &self.removals {
            writeln!(
                formatter,
                "  remove    {} {}",
                removal.package, removal.version
            )?;
        }
        for downgrade in &self.downgrades {
            writeln!(
                formatter,
                "  downgrade {} {} -> {}",
                downgrade.package, downgrade.installed, downgrade.candidate
            )?;
        }
        Ok(())
    }
}

/// Whether the user lets set-up remove or downgrade installed packages: the command line's
/// `--allow-removals`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Removals {
    /// Stop and list them (the default).
    #[default]
    Refuse,
    /// `--allow-removals`: list them and go ahead.
    Allow,
}

/// Who, if anyone, agreed to removals and downgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Consent {
    /// Nobody: an install that removes or downgrades stops.
    NotGiven,
    /// The user, with `--allow-removals`.
    Flag,
    /// The environment says this is a CI machine (`CI=true`, as GitHub Actions, GitLab CI and
    /// most others set it), which exists to be set up.
    CiEnvironment,
}

impl Consent {
    /// The consent of the command line's `removals` and the value of the `CI` environment
    /// variable (`true`, in any case, or `1` count).
    pub(crate) fn of(removals: Removals, ci_variable: Option<&str>) -> Self {
        let on_ci = ci_variable
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("true") || value.trim() == "1");
        match (removals, on_ci) {
            (Removals::Allow, _) => Self::Flag,
            (Removals::Refuse, true) => Self::CiEnvironment,
            (Removals::Refuse, false) => Self::NotGiven,
        }
    }

    /// How the consent was given, for messages; `None` when it was not.
    pub(crate) fn describe(self) -> Option<&'static str> {
        match self {
            Self::NotGiven => None,
            Self::Flag => Some("--allow-removals"),
            Self::CiEnvironment => Some("CI=true"),
        }
    }
}

/// The `apt-get` arguments that install `packages` after `plan` was simulated, or the installed
/// packages that stop it when `consent` was not given.
///
/// Always `-y --no-install-recommends`; `--no-remove` when the plan removes nothing (so the real
/// run aborts rather than remove anything the simulation did not show); `--allow-downgrades`
/// only when the plan downgrades and the user agreed. Never `--allow-remove-essential`,
/// `--allow-change-held-packages` or `--force-yes`.
///
/// # Errors
///
/// The [`InstalledChanges`] of the plan when it is not empty and `consent` is
/// [`Consent::NotGiven`].
pub(crate) fn install_arguments(
    packages: &[&str],
    plan: &AptPlan,
    consent: Consent,
) -> Result<Vec<String>, InstalledChanges> {
    let changes = plan.installed_changes();
    if !changes.is_empty() && consent == Consent::NotGiven {
        return Err(changes);
    }
    let mut arguments: Vec<String> = ["install", "-y", "--no-install-recommends"]
        .map(String::from)
        .to_vec();
    if plan.removals.is_empty() {
        arguments.push("--no-remove".to_owned());
    }
    if !plan.downgrades.is_empty() {
        arguments.push("--allow-downgrades".to_owned());
    }
    arguments.extend(packages.iter().map(|&package| package.to_owned()));
    Ok(arguments)
}

/// What `apt-get -s install --no-install-recommends <packages>` says the install would do.
/// Needs no root and changes nothing.
///
/// # Errors
///
/// [`XtaskError::CommandFailed`] when apt cannot resolve the install (unmet dependencies, an
/// unknown package), with the end of its explanation; [`XtaskError::Io`] when it cannot run.
pub(crate) fn simulate_install(packages: &[&str]) -> Result<AptPlan, XtaskError> {
    let mut simulation = apt_get();
    simulation
        .args(["-s", "install", "--no-install-recommends"])
        .args(packages)
        .env("LC_ALL", "C");
    let captured = run_captured(&mut simulation, SIMULATION_DEADLINE, Echo::StderrOnly)?;
    if !captured.termination.is_success() {
        let tail: Vec<&str> = captured.stdout.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(XtaskError::CommandFailed {
            command: display_command(&simulation),
            reason: format!(
                "apt-get cannot install the missing packages (its simulation ended with {:?}):\n{}",
                captured.termination,
                tail.join("\n")
            ),
        });
    }
    Ok(AptPlan::parse(&captured.stdout))
}

/// `apt-get` without questions (`DEBIAN_FRONTEND=noninteractive`).
pub(crate) fn apt_get() -> Command {
    let mut command = Command::new("apt-get");
    command.env("DEBIAN_FRONTEND", "noninteractive");
    command
}

#[cfg(test)]
mod tests;
