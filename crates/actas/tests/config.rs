//! The config file: what `serve` runs with comes from it, each setting
//! overridden by its ACTAS_* variable and its flag; a wrong file is
//! refused with its line before anything runs; `config show` prints what
//! is in force with secrets masked, as a file that reads back the same.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use reqwest::StatusCode;

fn show(env: &Env, config: &std::path::Path, vars: &[(&str, &str)], extra: &[&str]) -> String {
    let mut c = bare_cmd(env.dir.path());
    c.arg("--config").arg(config).envs(vars.iter().copied()).args(["config", "show"]).args(extra);
    let out = output(c, None);
    assert_success(&out, &["config", "show"]);
    stdout(&out)
}

#[tokio::test]
async fn serve_runs_with_the_file_and_the_environment_and_flags_override_it() {
    let env = Env::new();
    let config = env.path("actas.toml");
    std::fs::write(
        &config,
        format!(
            "# actas, test settings\n[server]\nlisten = \"127.0.0.1:0\"\nbase_url = \"https://actas.example.test\"\n\n\
             [database]\nurl = \"{}\"\n\n[keys]\nkey_encryption_key_file = \"{}\"\n\n[limits]\nmax_connections = 7\n\
             header_timeout_seconds = 4\n\n[log]\nformat = \"json\"\n",
            env.db.display(),
            env.kek().display()
        ),
    )
    .unwrap();
    let vars = [("ACTAS_MAX_CONNECTIONS", "9")];
    let shown = show(&env, &config, &vars, &["--header-timeout", "3"]);
    assert!(shown.contains("max_connections = 9  # from ACTAS_MAX_CONNECTIONS"), "{shown}");
    assert!(shown.contains("header_timeout_seconds = 3  # from --header-timeout"), "{shown}");
    assert!(
        shown.contains(&format!("base_url = \"https://actas.example.test\"  # from {}:4", config.display())),
        "{shown}"
    );
    assert!(shown.contains("idle_timeout_seconds = 60  # default"), "{shown}");
    assert!(shown.contains("format = \"json\"  # from"), "{shown}");

    // The server takes its database, key, address and log format from the file.
    env.add_staff("maria", "Maria Lopez", &["agent"]);
    let mut c = bare_cmd(env.dir.path());
    c.arg("--config").arg(&config).envs(vars).args(["serve", "--header-timeout", "3"]);
    let server = Server::spawn(c);
    let (status, health) = health(&http(), &server).await.expect("it answers");
    assert_eq!(status, StatusCode::OK, "{health}");
    let log = server.log();
    let first = log.lines().next().expect("a log line");
    let line: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(line["level"].is_string(), "{line}");
    // The base URL from the file is https: the console's cookies say Secure.
    let page = http().get(format!("{}/login", server.base)).send().await.unwrap();
    let cookie = page.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    server.stop();
}

#[test]
fn a_wrong_file_is_refused_with_its_line_before_anything_runs() {
    let env = Env::new();
    let cases = [
        ("[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n", ":3: unknown setting lisen in [server]"),
        ("[server]\n\n[limts]\nmax_connections = 3\n", ":3: unknown section [limts]"),
        ("[limits]\nmax_connections = \"many\"\n", ":2: limits.max_connections: expected a whole number"),
        ("[limits]\n\nmax_connections = 0\n", ":3: limits.max_connections: must be from 1 to 1000000"),
        ("[server]\nlisten = \n", ":2:"),
        ("[oidc]\nclient_secret = \"hunter2\"\n", ":2: oidc.client_secret: a secret is not written in the config file"),
    ];
    for (i, (text, said)) in cases.iter().enumerate() {
        let file = env.path(&format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let db = env.path(&format!("never{i}.db"));
        let mut c = bare_cmd(env.dir.path());
        c.arg("--config").arg(&file).arg("--database").arg(&db).arg("migrate");
        let out = output(c, None);
        assert!(!out.status.success(), "{text:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains(&format!("{}{said}", file.display())), "{text:?}: {err}");
        assert!(!err.contains("hunter2"), "the secret is echoed: {err}");
        assert!(!db.exists(), "{text:?}: the database was made anyway");
        // serve refuses the same way, without listening.
        let mut c = bare_cmd(env.dir.path());
        c.arg("--config").arg(&file).args(["serve", "--listen", "127.0.0.1:0"]);
        let out = run_briefly(c);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(said), "{}", both(&out));
    }
    // A bad value from the environment names the variable.
    let mut c = bare_cmd(env.dir.path());
    c.env("ACTAS_POOL_SIZE", "lots").args(["config", "show"]);
    let out = output(c, None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ACTAS_POOL_SIZE=\"lots\": expected a whole number"), "{}", both(&out));
}

#[test]
fn config_show_masks_secrets_and_reads_back_as_the_same_settings() {
    let env = Env::new();
    let secret_file = env.path("oidc-secret");
    std::fs::write(&secret_file, "from-a-file\n").unwrap();
    let config = env.path("actas.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"postgres://actas:s3cret-pw@db.internal:5432/actas\"\npool_size = 24\n\n\
             [server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\"]\n\n\
             [oidc]\nissuer = \"https://id.example.test\"\nclient_id = \"actas\"\nclient_secret_file = \"{}\"\n\n\
             [audit]\ncheckpoint_events = 500\n",
            secret_file.display()
        ),
    )
    .unwrap();
    let kek = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
    let shown = show(&env, &config, &[("ACTAS_KEY_ENCRYPTION_KEY", kek)], &[]);
    for secret in ["s3cret-pw", "from-a-file", kek] {
        assert!(!shown.contains(secret), "{secret} is shown:\n{shown}");
    }
    assert!(shown.contains("url = \"postgres://actas:********@db.internal:5432/actas\""), "{shown}");
    assert!(shown.contains("key_encryption_key = \"********\"  # from ACTAS_KEY_ENCRYPTION_KEY"), "{shown}");
    assert!(shown.contains("trusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\"]"), "{shown}");
    assert!(shown.contains("pool_size = 24"), "{shown}");
    assert!(shown.contains("# witness =  # not set, ACTAS_WITNESS_FILE"), "{shown}");

    // Without its secrets (which never go in a file), what is shown is a
    // config file that gives the same settings.
    let again = env.path("again.toml");
    let kept: String = shown
        .lines()
        .filter(|l| !l.starts_with("url = ") && !l.starts_with("key_encryption_key = "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&again, kept).unwrap();
    let shown_again = show(&env, &again, &[], &[]);
    let settings = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with('#') && l.contains(" = "))
            .filter(|l| !l.starts_with("url = ") && !l.starts_with("key_encryption_key = "))
            .map(|l| l.split("  #").next().unwrap_or(l).to_string())
            .collect()
    };
    assert_eq!(settings(&shown), settings(&shown_again), "{shown}\n---\n{shown_again}");
}
