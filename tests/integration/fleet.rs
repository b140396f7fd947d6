//! The PostgreSQL journal (`[journal] url`): the same runs, duplicates, history, outbox and
//! events as with SQLite, in a database several hosts share. Each test gets a fresh database
//! on a throwaway cluster (`pg_support`).

use serde_json::Value;

use crate::pg_support::{self, PgServer};
use crate::support::{Cfg, World, md5_hex};

/// A fresh database: its URL without the password, which goes in `PGPASS` instead (a config
/// must not hold one), and with it, for `psql`.
fn database(pg: &PgServer, hint: &str) -> (String, String) {
    let url = pg.fresh_database(hint);
    (url.replacen(&format!(":{}@", pg.password()), "@", 1), url)
}

/// A world whose journal is the database at `url`, this host called `host`.
fn world(url: &str, host: &str) -> World {
    let w = World::new();
    let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"{host}\"");
    w.config(&Cfg::stmt("").journal(&journal).text());
    w
}

fn history(w: &World, pg: &PgServer) -> Vec<Value> {
    let out = w.cmd().env("PGPASS", pg.password()).args(["history", "--json"]).run().code(0).stdout();
    out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

#[test]
fn runs_duplicates_and_history_live_in_postgresql() {
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "runs");
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    let run = |w: &World| {
        w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run()
    };
    let first = run(&w).code(0);
    assert!(w.job_ran(), "{}", first.stderr());
    run(&w).code(0).stderr_has("already succeeded in run 1");

    let runs = history(&w, pg);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!((runs[1]["outcome"].as_str(), runs[1]["host"].as_str()), (Some("success"), Some("ftp1")));
    assert_eq!(runs[0]["outcome"], "duplicate_skipped");
    assert!(!w.journal_path().exists(), "a SQLite journal was made too");
    let table = w.cmd().env("PGPASS", pg.password()).arg("history").run().code(0).stdout();
    assert!(table.starts_with("RUN  STARTED") && table.contains("  HOST  CID"), "{table}");
    assert!(table.lines().nth(2).is_some_and(|l| l.contains(" ftp1  acme  a.zip  success")), "{table}");
    let count = pg.sql(&full, "SELECT count(*) FROM runs").expect("psql");
    assert_eq!(count.trim(), "2");
}

#[test]
fn an_unreachable_database_is_exit_1_naming_it_and_nothing_runs() {
    let Some(pg) = pg_support::server() else { return };
    let url = format!("postgres://postgres@127.0.0.1:{}/nosuchdb_ftptrigger", pg.port());
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    let run =
        w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run();
    let run = run.code(1).stderr_has("cannot open journal postgres://postgres@127.0.0.1:");
    assert!(!run.stderr().contains(pg.password()), "{}", run.stderr());
    assert!(!w.job_ran());
}

#[test]
fn check_refuses_a_password_in_the_url_and_path_beside_url() {
    let w = World::new();
    w.config(&Cfg::stmt("").journal("url = \"postgres://u:secret@db/x\"\npath = \"j.db\"").text());
    let out = w.cmd().arg("check").run().code(10).stdout();
    assert!(out.contains("journal.url: holds a password"), "{out}");
    assert!(out.contains("journal.path: set path (SQLite) or url (PostgreSQL), not both"), "{out}");
    assert!(!out.contains("secret"), "{out}");
}

/// A journal made by an older ftptrigger (schema version 1: runs and meta only, a run in it) is
/// migrated on first use, and what it held is still there.
#[test]
fn an_older_schema_is_migrated_on_first_use() {
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "migrate");
    let v1 = "CREATE TABLE runs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, cid TEXT NOT NULL,
                  filename BYTEA NOT NULL, md5 TEXT, exit_code BIGINT, pid BIGINT NOT NULL, pid_start BIGINT,
                  host TEXT NOT NULL, started_ms BIGINT NOT NULL, finished_ms BIGINT, report TEXT NOT NULL);
              CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
              CREATE TABLE ftptrigger_schema (version BIGINT NOT NULL);
              INSERT INTO ftptrigger_schema VALUES (1);";
    pg.sql(&full, v1).expect("an old schema");
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run().code(0);
    assert_eq!(pg.sql(&full, "SELECT version FROM ftptrigger_schema").expect("psql").trim(), "5");
    let tables = pg.sql(
        &full,
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('outbox', 'events')",
    );
    assert_eq!(tables.expect("psql").trim(), "2");
    assert_eq!(history(&w, pg).len(), 1);
}

/// Two hosts (two configs: their own host name, locks and spool; the same database; the same
/// upload directory reached by two different paths) invoked on the same 300 files, 32 at a
/// time each: every job runs exactly once, 300 success rows, the rest skipped as duplicates or
/// busy, nothing lost, no error.
#[test]
fn two_hosts_racing_on_300_files_run_each_job_once() {
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "race");
    let shared = World::new();
    let files: Vec<String> = (0..300).map(|i| format!("f{i:03}.zip")).collect();
    for name in &files {
        shared.upload(name, name.as_bytes());
    }
    let log = shared.path("jobs.log");
    let job = format!("#!/bin/sh\nprintf '%s\\n' \"$FTPTRIGGER_FILENAME\" >> '{}'\n", log.display());
    let hosts: Vec<World> = ["ftpA", "ftpB"]
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let w = World::new();
            w.script("job.sh", &job);
            // Host B sees the uploads through another path to the same directory.
            let root = if i == 0 {
                shared.root()
            } else {
                let view = w.path("mnt-view");
                std::os::unix::fs::symlink(shared.root(), &view).expect("symlink");
                view
            };
            let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"{host}\"");
            let rule = Cfg::default()
                .rule("stmt", "acme", "*.zip", "")
                .journal(&journal)
                .defaults("lock_wait = \"0s\"")
                .text()
                .replace("root = \"ftp/acme\"", &format!("root = \"{}\"", root.display()));
            w.config(&rule);
            w
        })
        .collect();
    let codes: Vec<i32> = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|w| {
                let files = &files;
                let shared = &shared;
                scope.spawn(move || {
                    let mut codes = Vec::new();
                    for batch in files.chunks(32) {
                        let running: Vec<_> = batch
                            .iter()
                            .map(|name| {
                                let file = shared.root().join(name);
                                w.cmd()
                                    .env("PGPASS", pg.password())
                                    .arg("acme")
                                    .arg(file)
                                    .args(["--md5", &md5_hex(name.as_bytes())])
                                    .spawn()
                            })
                            .collect();
                        codes
                            .extend(running.into_iter().map(|r| r.wait().output.status.code().unwrap_or(-1)));
                    }
                    codes
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a host")).collect()
    });
    assert!(codes.iter().all(|c| *c == 0 || *c == 16), "exit codes other than 0 and 16: {codes:?}");
    let ran = std::fs::read_to_string(&log).unwrap_or_default();
    let mut lines: Vec<&str> = ran.lines().collect();
    assert_eq!(lines.len(), 300, "job runs");
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 300, "distinct files run");
    let count = |state: &str| {
        let sql = format!("SELECT count(*) FROM runs WHERE state = '{state}'");
        pg.sql(&full, &sql).expect("psql").trim().parse::<usize>().expect("a count")
    };
    let (success, skipped, busy) = (count("success"), count("duplicate_skipped"), count("busy"));
    assert_eq!(success, 300);
    assert_eq!(success + skipped + busy, 600, "rows lost: {skipped} skipped, {busy} busy");
    let hosts = pg.sql(&full, "SELECT count(DISTINCT host) FROM runs WHERE state = 'success'").expect("psql");
    eprintln!(
        "race: 300 success, {skipped} duplicate_skipped, {busy} busy; success rows from {} hosts",
        hosts.trim()
    );
}

/// Host A's ftptrigger is SIGKILLed while its job runs. From host B the run is alive for as
/// long as that job lives (its session still holds the locks): B neither reaps it nor runs the
/// file beside it. Once the job is gone, B shows the run `interrupted`, and runs the file.
#[test]
fn a_sigkilled_run_is_interrupted_for_the_other_host_only_once_its_job_is_gone() {
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "orphan");
    let shared = World::new();
    let file = shared.upload("slow.zip", b"slow");
    let marks = shared.path("marks");
    std::fs::create_dir_all(&marks).expect("mkdir");
    let job = format!(
        "#!/bin/sh\necho $$ > '{m}/pid'\nprintf 'ran\\n' >> '{m}/runs'\nexec sleep \"${{SLEEP:-0}}\"\n",
        m = marks.display()
    );
    let host = |name: &str| {
        let w = World::new();
        w.script("job.sh", &job);
        let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"{name}\"");
        let text = Cfg::stmt("")
            .journal(&journal)
            .defaults("lock_wait = \"0s\"")
            .text()
            .replace("root = \"ftp/acme\"", &format!("root = \"{}\"", shared.root().display()));
        w.config(&text);
        w
    };
    let (a, b) = (host("ftpA"), host("ftpB"));
    let md5 = md5_hex(b"slow");
    let run_on =
        |w: &World| w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5]);
    let state = || pg.sql(&full, "SELECT state FROM runs WHERE id = 1").expect("psql").trim().to_owned();

    let first = run_on(&a).env("SLEEP", "60").spawn();
    crate::support::wait_until(crate::serve::LIMIT, "the job started", || marks.join("pid").exists());
    first.signal(rustix::process::Signal::KILL);
    first.wait();

    // The orphaned job still holds host A's session: B does not run the file, nor reap the run.
    run_on(&b).run().code(16).stderr_has("holds its lock");
    assert_eq!(state(), "running");
    let shown = history(&b, pg);
    assert_eq!(shown.last().map(|r| r["outcome"].as_str()), Some(Some("running")), "{shown:?}");

    let orphan: i32 = std::fs::read_to_string(marks.join("pid")).expect("pid").trim().parse().expect("a pid");
    let orphan = rustix::process::Pid::from_raw(orphan).expect("a pid");
    rustix::process::kill_process(orphan, rustix::process::Signal::KILL).expect("kill the orphan");
    crate::support::wait_until(crate::serve::LIMIT, "B sees run 1 interrupted", || {
        history(&b, pg).last().is_some_and(|r| r["outcome"] == "interrupted")
    });
    run_on(&b).run().code(0);
    assert_eq!(state(), "interrupted", "B's run reaps run 1");
    let runs = std::fs::read_to_string(marks.join("runs")).expect("runs");
    assert_eq!(runs.lines().count(), 2, "the job ran twice at once, or not again");
}

/// The database goes away while the job runs: the run keeps its outcome, is kept in the local
/// spool, and once the database is back `outbox flush` records it and notifies it, once.
#[test]
fn a_run_that_ends_while_the_database_is_down_is_spooled_then_recorded_and_notified_once() {
    let Some(own) = pg_support::private() else { return };
    let (url, full) = database(&own, "spool");
    let hook = crate::servers::HttpReceiver::ok();
    let w = World::new();
    let marks = w.path("marks");
    w.script("job.sh", &format!("#!/bin/sh\ntouch '{}'\nsleep 2\n", marks.display()));
    let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"ftp1\"");
    let channel = format!("[channel.hook]\ntype = \"webhook\"\nurl = \"{}\"\nretries = 0\n", hook.url());
    w.config(&Cfg::stmt("notify_success = [\"hook\"]").journal(&journal).tail(&channel).text());
    let file = w.upload("a.zip", b"a");
    let run =
        w.cmd().env("PGPASS", own.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).spawn();
    crate::support::wait_until(crate::serve::LIMIT, "the job started", || marks.exists());
    own.stop();
    let run = run.wait().code(0).stderr_has("the journal is out of reach");
    assert!(run.stderr().contains("kept in "), "{}", run.stderr());
    assert!(!run.stderr().contains(own.password()), "{}", run.stderr());
    assert_eq!(hook.count(), 0, "notified before it was recorded");

    own.start();
    w.cmd().env("PGPASS", own.password()).args(["outbox", "flush"]).run().code(0);
    hook.wait_for(1, crate::serve::LIMIT);
    assert_eq!(pg_state(&own, &full, 1), "success");
    w.cmd().env("PGPASS", own.password()).args(["outbox", "flush"]).run().code(0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(hook.count(), 1, "notified twice");
    let spool = w.journal_dir().join("ftptrigger/spool");
    assert_eq!(std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0), 0, "left in the spool");
}

fn pg_state(pg: &PgServer, db: &str, id: i64) -> String {
    pg.sql(db, &format!("SELECT state FROM runs WHERE id = {id}")).expect("psql").trim().to_owned()
}

/// `serve` on a PostgreSQL journal: queued runs, subscriptions and their callbacks, the outbox,
/// `/runs` and `/metrics` all work as they do on SQLite.
#[test]
fn serve_queues_fires_events_and_lists_runs_on_postgresql() {
    use serde_json::json;
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "serve");
    let hook = crate::servers::HttpReceiver::ok();
    let w = World::new();
    w.script("job.sh", crate::serve::JOB);
    let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"ftp1\"");
    w.config(&Cfg::stmt("tags = { product = \"statements\" }").journal(&journal).tail("[serve]").text());
    let s = crate::serve::Service::start_with(&w, &[("PGPASS", pg.password())]);
    let sub = json!({"listener_type": "tagged_file", "company_id": "acme", "tags": {"product": "statements"},
                     "action": {"external_action": true, "callback_type": "webhook", "callback_url": hook.url(),
                                "delete_after_action": true}});
    assert_eq!(s.post("/events", &sub).status, 201);
    w.upload("a.zip", b"a");
    let accepted =
        s.post("/ftpscanner/?async=true", &json!({"cid": "acme", "filename": "a.zip", "md5": md5_hex(b"a")}));
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.json()["run_id"].as_i64().expect("an id");
    let ended = s.ended(id);
    assert_eq!(
        (ended["outcome"].as_str(), ended["host"].as_str()),
        (Some("success"), Some("ftp1")),
        "{ended}"
    );
    let got = hook.wait_for(1, crate::serve::LIMIT);
    assert_eq!(got[0].json()["data"]["run_id"], id);
    crate::support::wait_until(crate::serve::LIMIT, "the one-shot subscription is gone", || {
        s.get("/events").json() == json!({"events": []})
    });
    assert_eq!(s.get("/runs?cid=acme").json()["runs"].as_array().map(Vec::len), Some(1));
    assert!(s.get("/metrics").body.contains("ftptrigger_outbox_pending 0"));
    assert!(!s.log().contains("cannot"), "{}", s.log());
    assert_eq!(pg_state(pg, &full, id), "success");
}

/// TLS as libpq users write it: `sslmode=verify-full` with the server's CA in `sslrootcert`
/// connects; without that CA it is refused before anything runs; `require` encrypts without
/// checking; a server without TLS refuses `require`.
#[test]
fn sslmode_is_read_as_libpq_reads_it_and_tls_goes_through_rustls() {
    let Some(own) = pg_support::private() else { return };
    let (url, _) = database(&own, "tls");
    let plain = |mode: &str| {
        let w = world(&format!("{url}?sslmode={mode}"), "ftp1");
        let file = w.upload("a.zip", b"a");
        let code = w
            .cmd()
            .env("PGPASS", own.password())
            .arg("acme")
            .arg(&file)
            .args(["--md5", &md5_hex(b"a")])
            .run();
        code.output.status.code()
    };
    assert_eq!(plain("require"), Some(1), "require against a server without TLS");
    assert_eq!(plain("disable"), Some(0));

    let ca = crate::servers::TestCa::new();
    own.enable_tls(&ca.server_pem.0, &ca.server_pem.1);
    let root = ca.write_pem();
    let run = |query: &str| {
        let w = world(&format!("{url}?{query}"), "ftp1");
        let file = w.upload("a.zip", b"a");
        w.cmd().env("PGPASS", own.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run()
    };
    run(&format!("sslmode=verify-full&sslrootcert={}", root.path().display())).code(0);
    let refused = run("sslmode=verify-full").code(1);
    assert!(refused.stderr().contains("cannot open journal"), "{}", refused.stderr());
    run("sslmode=require").code(0);
    let other = crate::servers::TestCa::new();
    let wrong = other.write_pem();
    run(&format!("sslmode=verify-ca&sslrootcert={}", wrong.path().display())).code(1);
}

/// The database password reaches the server only: not the job's environment, not stdout or
/// stderr (also of a failing run and `-v`), not `history` or `outbox list`; and a delivery that
/// failed waits in the PostgreSQL outbox until `outbox flush` sends it, once.
#[test]
fn the_database_password_stays_secret_and_the_outbox_works_on_postgresql() {
    let Some(pg) = pg_support::server() else { return };
    let (url, _) = database(pg, "secret");
    let hook = crate::servers::HttpReceiver::scripted(vec![
        crate::servers::Reply::status(503),
        crate::servers::Reply::ok(),
    ]);
    let w = World::new();
    let env_out = w.path("job.env");
    w.script("job.sh", &format!("#!/bin/sh\nenv > '{}'\nexit 3\n", env_out.display()));
    let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"ftp1\"");
    let channel = format!("[channel.hook]\ntype = \"webhook\"\nurl = \"{}\"\nretries = 0\n", hook.url());
    w.config(&Cfg::stmt("notify = [\"hook\"]").journal(&journal).tail(&channel).text());
    let file = w.upload("a.zip", b"a");
    let with_pw = |args: &[&str]| w.cmd().env("PGPASS", pg.password()).args(args);
    let run = with_pw(&["-v", "acme"]).arg(&file).args(["--md5", &md5_hex(b"a")]).run().code(14);
    let listed = with_pw(&["outbox", "list", "--json"]).run().code(0).stdout();
    assert!(listed.contains("\"state\":\"pending\""), "{listed}");
    with_pw(&["outbox", "flush"]).run().code(0);
    hook.wait_for(2, crate::serve::LIMIT);
    with_pw(&["outbox", "flush"]).run().code(0);
    assert_eq!(hook.count(), 2, "delivered twice");
    let history = with_pw(&["history", "--json"]).run().code(0).stdout();
    let job_env = std::fs::read_to_string(&env_out).expect("the job's environment");
    for (what, text) in [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("outbox list", listed),
        ("history", history),
        ("the job's environment", job_env.clone()),
    ] {
        assert!(!text.contains(pg.password()), "the password is in {what}:\n{text}");
    }
    assert!(!job_env.contains("PGPASS="), "the password's variable reached the job");
}

/// The database server stopped before a run: exit 1, the message names the server (not the
/// password), nothing runs and nothing is spooled; once it is back, the same run succeeds.
#[test]
fn a_stopped_database_before_the_run_is_exit_1_and_nothing_runs() {
    let Some(own) = pg_support::private() else { return };
    let (url, _) = database(&own, "stopped");
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    let run =
        || w.cmd().env("PGPASS", own.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run();
    own.stop();
    let refused = run().code(1).stderr_has(&format!("cannot open journal {url}"));
    assert!(!refused.stderr().contains(own.password()), "{}", refused.stderr());
    assert!(!w.job_ran(), "the job ran without a journal");
    assert!(!w.journal_dir().join("ftptrigger/spool").exists(), "a run that never started was spooled");
    own.start();
    run().code(0);
    assert!(w.job_ran());
}

/// A database password kept in `[defaults] env_file` is found there: `check` does not call it
/// unset.
#[test]
fn a_password_in_the_env_file_is_not_called_unset() {
    let w = World::new();
    crate::support::write_mode(&w.path("secrets.env"), b"PGPASS=s3cret\n", 0o600);
    let journal = "url = \"postgres://ftptrigger@db.example/ftptrigger\"\npassword_env = \"PGPASS\"";
    w.config(&Cfg::stmt("").journal(journal).defaults("env_file = \"secrets.env\"").text());
    let out = w.cmd().arg("check").run().code(0).stdout();
    assert!(!out.contains("journal.password_env"), "{out}");
}
