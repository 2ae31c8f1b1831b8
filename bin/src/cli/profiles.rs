//! `tunnel-client profiles list|add|edit|samples …`: named profiles in the profile
//! directory (`--profile-dir` → `TUNNEL_CLIENT_PROFILE_DIR` → `$XDG_CONFIG_HOME/tunnel-client`
//! → `~/.config/tunnel-client`). Every profile written here is validated by the settings
//! layer first and stored with mode 0600 in a directory created 0700.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::args::CliError;
use super::opts::{self, Opt, Spec};
use super::samples;
use crate::config::onboard::{self, Deferred, ProfileCheck};
use crate::config::{Env, ProcessEnv};

const PROFILE_DIR: Opt = Opt::one(
    "profile-dir",
    "DIR",
    "profile directory (default: TUNNEL_CLIENT_PROFILE_DIR, else $XDG_CONFIG_HOME/tunnel-client, else ~/.config/tunnel-client)",
);

pub const PROFILES: Spec = Spec {
    cmd: "profiles",
    args: "list|add|edit|samples",
    about: "Manage named profiles: <profile dir>/<name>.yaml, used with --profile <name>.\n\n  profiles list [--json]                 the profiles in the profile directory\n  profiles add <name> --sample S | --from-file F   create a profile (validated, mode 0600)\n  profiles edit <name>                   edit in $VISUAL/$EDITOR; saved only if it validates\n  profiles samples list                  the built-in samples\n  profiles samples show <name>           a sample, explained and rendered",
    opts: &[PROFILE_DIR],
};

pub const LIST: Spec = Spec {
    cmd: "profiles list",
    args: "",
    about: "List the profiles in the profile directory: one `name<TAB>path` line each, sorted.",
    opts: &[
        PROFILE_DIR,
        Opt::flag("json", "print [{\"name\",\"path\"}] as JSON"),
    ],
};

pub const ADD: Spec = Spec {
    cmd: "profiles add",
    args: "<name>",
    about: "Create a profile from a built-in sample or from a file. The content is validated\nlike `run` would read it (secrets are not resolved) and written with mode 0600.",
    opts: &[
        PROFILE_DIR,
        Opt::one("sample", "NAME", "render this built-in sample (see `profiles samples list`)"),
        Opt::one("from-file", "PATH", "copy this YAML file"),
        Opt::one("tunnel-id", "ID", "with --sample: the tunnel id (tunnel_…)")
            .alias(&["control-plane.tunnel-id"]),
        Opt::one("mcp-server-url", "URL", "with --sample: HTTP MCP target").alias(&["mcp.server-url"]),
        Opt::one("mcp-command", "CMD", "with --sample: stdio MCP target").alias(&["mcp.command"]),
        Opt::flag("force", "replace an existing profile"),
    ],
};

pub const EDIT: Spec = Spec {
    cmd: "profiles edit",
    args: "<name>",
    about: "Edit a profile in $VISUAL (else $EDITOR). The edit happens on a private copy;\nit replaces the profile only if it validates. A new profile starts from a placeholder.",
    opts: &[PROFILE_DIR],
};

pub const SAMPLES_LIST: Spec = Spec {
    cmd: "profiles samples list",
    args: "",
    about: "The built-in sample profiles: one `name<TAB>summary` line each.",
    opts: &[],
};

pub const SAMPLES_SHOW: Spec = Spec {
    cmd: "profiles samples show",
    args: "<name>",
    about: "Explain a built-in sample and print it rendered with example values.",
    opts: &[],
};

/// `profiles …` dispatch. `args` start after `profiles`.
pub fn run(args: &[String]) -> Result<(), CliError> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["list", ..] => list(&args[1..]),
        ["add", ..] => add(&args[1..]),
        ["edit", ..] => edit(&args[1..]),
        ["samples", "list", ..] => samples_list(&args[2..]),
        ["samples", "show", ..] => samples_show(&args[2..]),
        ["samples", ..] => {
            println!(
                "{}",
                opts::help(&Spec {
                    cmd: "profiles samples",
                    args: "list|show <name>",
                    about: "The built-in sample profiles.",
                    opts: &[],
                })
            );
            Ok(())
        }
        [] | ["--help"] | ["-h"] | ["help"] => {
            print!("{}", opts::help(&PROFILES));
            Ok(())
        }
        [other, ..] => {
            let hint = opts::closest(other, ["list", "add", "edit", "samples"])
                .map(|c| format!("did you mean `profiles {c}`? "))
                .unwrap_or_default();
            Err(CliError::Usage(format!(
                "profiles: unknown subcommand {other:?}; {hint}use list, add, edit or samples (see `tunnel-client profiles --help`)"
            )))
        }
    }
}

/// The profile directory for a `--profile-dir` value (or the default chain).
pub fn dir(flag: Option<&str>, env: &dyn Env) -> Result<PathBuf, CliError> {
    onboard::profile_dir(flag, env).map_err(|e| CliError::Config(e.to_string()))
}

/// Checks a profile name (go-cli-config.md §2.5).
pub fn check_name(what: &str, name: &str) -> Result<(), CliError> {
    if onboard::valid_profile_name(name) && !name.contains(['/', '\\']) {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "invalid profile name {name:?} for {what}: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 128); the file is <profile dir>/<name>.yaml"
    )))
}

/// The profile's path: `<dir>/<name>.yaml`.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.yaml"))
}

/// Validates profile text, turning errors into a message that names the file.
pub fn validate(text: &str, path: &Path) -> Result<ProfileCheck, CliError> {
    onboard::check_profile(text, path)
        .map_err(|e| CliError::Config(format!("profile {} did not validate:\n{e}", path.display())))
}

/// Prints warnings (stderr) and what the environment must supply (stdout).
pub fn report_check(c: &ProfileCheck, env: &dyn Env) {
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    for d in &c.deferred {
        // A variable already exported here needs no reminder.
        if let Deferred::EnvVar(n) = d {
            if env.var(n).is_some_and(|v| !v.trim().is_empty()) {
                continue;
            }
        }
        match d {
            Deferred::EnvVar(n) if n == "CONTROL_PLANE_API_KEY" || n == "OPENAI_API_KEY" => {
                println!(
                    "Before doctor/run: export {n}=<runtime API key> (from {}; Tunnels Read + Use)",
                    super::help_topics::RUNTIME_KEYS_URL
                )
            }
            _ => println!("Note: {d}"),
        }
    }
}

/// Creates the directory (0700) if needed and writes `text` to `path` with mode 0600:
/// exclusively unless `force`, and then through a private temporary file and a rename so
/// a reader never sees half a profile.
pub fn write_profile(path: &Path, text: &str, force: bool, name: &str) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir_private(dir)?;
    let io = |what: &str, p: &Path, e: std::io::Error| {
        CliError::Io(format!(
            "cannot {what} {}: {e}; fix: check the permissions of {} (or choose another --profile-dir)",
            p.display(),
            dir.display()
        ))
    };
    if !force {
        let mut f = match open_private(path, true) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CliError::Usage(format!(
                    "profile {name:?} already exists at {}; pass --force to replace it (or choose another --profile name)",
                    path.display()
                )))
            }
            Err(e) => return Err(io("create", path, e)),
        };
        return f
            .write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io("write", path, e));
    }
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    let result = open_private(&tmp, true)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io("write", path, e));
    }
    Ok(())
}

/// Opens a new file readable only by the owner (`create_new` when `exclusive`).
pub fn open_private(path: &Path, exclusive: bool) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true);
    if exclusive {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn create_dir_private(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| {
        CliError::Io(format!(
            "cannot create the profile directory {}: {e}; fix: create it yourself or pass --profile-dir DIR",
            dir.display()
        ))
    })
}

fn help_or(spec: &Spec, args: &[String]) -> Result<Option<opts::Parsed>, CliError> {
    let p = opts::parse(spec, args)?;
    if p.help {
        print!("{}", opts::help(spec));
        return Ok(None);
    }
    Ok(Some(p))
}

/// The names of the profiles in `dir`, sorted (a missing directory has none).
pub fn names_in(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            f.strip_suffix(".yaml")
                .filter(|n| onboard::valid_profile_name(n))
                .map(String::from)
        })
        .collect();
    names.sort();
    names
}

fn list(args: &[String]) -> Result<(), CliError> {
    let Some(p) = help_or(&LIST, args)? else {
        return Ok(());
    };
    opts::expect_positionals(&LIST, &p.positionals, 0)?;
    let dir = dir(p.get("profile-dir"), &ProcessEnv)?;
    let names = names_in(&dir);
    if p.on("json") {
        let v: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({"name": n, "path": path_of(&dir, n).display().to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into())
        );
        return Ok(());
    }
    if names.is_empty() {
        println!(
            "No profiles found in {}\nCreate one: tunnel-client init --tunnel-id tunnel_… --mcp-server-url URL | --mcp-command \"CMD\"",
            dir.display()
        );
    }
    for n in names {
        println!("{n}\t{}", path_of(&dir, &n).display());
    }
    Ok(())
}

fn add(args: &[String]) -> Result<(), CliError> {
    let Some(p) = help_or(&ADD, args)? else {
        return Ok(());
    };
    opts::expect_positionals(&ADD, &p.positionals, 1)?;
    let name = p.positionals[0].as_str();
    check_name("profiles add <name>", name)?;
    let env = ProcessEnv;
    let dir = dir(p.get("profile-dir"), &env)?;
    let path = path_of(&dir, name);
    let text = match (p.get("sample"), p.get("from-file")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(CliError::Usage(
                "profiles add: give exactly one of --sample NAME (see `tunnel-client profiles samples list`) or --from-file PATH".into(),
            ))
        }
        (Some(s), None) => {
            let sample = samples::find(s).ok_or_else(|| samples::unknown("--sample", s))?;
            samples::render(
                sample,
                &samples::Inputs {
                    tunnel_id: p.get("tunnel-id").unwrap_or_default().to_string(),
                    mcp_server_url: p.get("mcp-server-url").map(String::from),
                    mcp_command: p.get("mcp-command").map(String::from),
                    ..samples::Inputs::default()
                },
            )?
        }
        (None, Some(f)) => {
            for flag in ["tunnel-id", "mcp-server-url", "mcp-command"] {
                if p.given(flag) {
                    return Err(CliError::Usage(format!(
                        "profiles add: --{flag} only applies with --sample; edit the file given to --from-file instead"
                    )));
                }
            }
            fs::read_to_string(f).map_err(|e| {
                CliError::Io(format!(
                    "--from-file {f}: cannot read it: {e}; fix: give the path of an existing YAML profile"
                ))
            })?
        }
    };
    let check = validate(&text, &path)?;
    write_profile(&path, &text, p.on("force"), name)?;
    println!("Added profile {name} at {}", path.display());
    report_check(&check, &env);
    println!(
        "Next: tunnel-client doctor --profile {name}{}",
        dir_flag(p.get("profile-dir"))
    );
    Ok(())
}

/// ` --profile-dir DIR` when one was given explicitly (so the printed command works).
pub fn dir_flag(given: Option<&str>) -> String {
    given
        .map(|d| format!(" --profile-dir {}", shell_quote(d)))
        .unwrap_or_default()
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn edit(args: &[String]) -> Result<(), CliError> {
    let Some(p) = help_or(&EDIT, args)? else {
        return Ok(());
    };
    opts::expect_positionals(&EDIT, &p.positionals, 1)?;
    let name = p.positionals[0].as_str();
    check_name("profiles edit <name>", name)?;
    let env = ProcessEnv;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| env.var(v).filter(|e| !e.trim().is_empty()))
        .ok_or_else(|| {
            CliError::Usage(
                "profiles edit: neither VISUAL nor EDITOR is set; fix: export EDITOR=vi (or nano, \"code --wait\", …)".into(),
            )
        })?;
    let words: Vec<&str> = editor.split_whitespace().collect();
    let dir = dir(p.get("profile-dir"), &env)?;
    let path = path_of(&dir, name);
    let start = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = samples::find(samples::DEFAULT_SAMPLE)
                .ok_or_else(|| CliError::Io("built-in sample missing from this build".into()))?;
            // A placeholder to edit: an all-zero tunnel id and the demo server's URL.
            samples::render(
                s,
                &samples::Inputs {
                    tunnel_id: "tunnel_00000000000000000000000000000000".into(),
                    mcp_server_url: Some("http://127.0.0.1:3001/mcp".into()),
                    ..samples::Inputs::default()
                },
            )?
        }
        Err(e) => {
            return Err(CliError::Io(format!(
                "cannot read {}: {e}; fix: check its permissions",
                path.display()
            )))
        }
    };
    create_dir_private(&dir)?;
    let tmp = dir.join(format!(".{name}.{}.yaml", std::process::id()));
    {
        let mut f = open_private(&tmp, false).map_err(|e| {
            CliError::Io(format!(
                "cannot create the edit copy {}: {e}; fix: check the permissions of {}",
                tmp.display(),
                dir.display()
            ))
        })?;
        f.write_all(start.as_bytes())
            .map_err(|e| CliError::Io(format!("cannot write {}: {e}", tmp.display())))?;
    }
    let status = std::process::Command::new(words[0])
        .args(&words[1..])
        .arg(&tmp)
        .status()
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            CliError::Io(format!(
                "cannot start the editor {:?} (from VISUAL/EDITOR): {e}; fix: set EDITOR to an installed editor",
                words[0]
            ))
        })?;
    if !status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::Io(format!(
            "the editor exited with {status}; nothing saved ({} is unchanged)",
            path.display()
        )));
    }
    let text = fs::read_to_string(&tmp)
        .map_err(|e| CliError::Io(format!("cannot read back {}: {e}", tmp.display())))?;
    let check = match onboard::check_profile(&text, &path) {
        Ok(c) => c,
        Err(e) => {
            return Err(CliError::Config(format!(
                "profile did not validate; not saving {} (unchanged):\n{e}\nYour edit is kept in {}; fix it and run `tunnel-client profiles edit {name}` again, or `tunnel-client profiles add {name} --from-file {} --force`.",
                path.display(),
                tmp.display(),
                tmp.display()
            )))
        }
    };
    fs::rename(&tmp, &path).map_err(|e| {
        CliError::Io(format!(
            "cannot save {}: {e}; your edit is kept in {}",
            path.display(),
            tmp.display()
        ))
    })?;
    println!("Saved profile {name} at {}", path.display());
    report_check(&check, &env);
    Ok(())
}

fn samples_list(args: &[String]) -> Result<(), CliError> {
    let Some(p) = help_or(&SAMPLES_LIST, args)? else {
        return Ok(());
    };
    opts::expect_positionals(&SAMPLES_LIST, &p.positionals, 0)?;
    print!("{}", samples::list_text());
    Ok(())
}

fn samples_show(args: &[String]) -> Result<(), CliError> {
    let Some(p) = help_or(&SAMPLES_SHOW, args)? else {
        return Ok(());
    };
    opts::expect_positionals(&SAMPLES_SHOW, &p.positionals, 1)?;
    let name = &p.positionals[0];
    let s = samples::find(name).ok_or_else(|| samples::unknown("profiles samples show", name))?;
    print!("{}", samples::show_text(s)?);
    Ok(())
}
