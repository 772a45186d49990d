//! The dashboard in a real headless Chromium, driven over WebDriver against a real
//! `keel serve`. Needs `chromium` and `chromedriver` (Debian: `apt-get install
//! chromium chromium-driver`; CI installs them); without them each test prints
//! `SKIP: ...` and passes. Screenshots of every step go to `target/screenshots/`.

mod common;

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::server::{Server, data_dir};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// One browser at a time: the machine running the tests may have two cores.
static BROWSER: Mutex<()> = Mutex::new(());

/// Bounded waits: generous, since a loaded CI machine is slow, and never an
/// assertion on how long something took.
const WAIT: Duration = Duration::from_secs(15);

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(bin: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Its own process group, so that a failed test (no session close)
        // takes the browser down with the driver.
        let child = Command::new(bin)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a browser test needs, or why it cannot run here.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"])
        .ok_or("no chromium on PATH (apt-get install chromium)")?;
    let driver = which(&["chromedriver"])
        .ok_or("no chromedriver on PATH (apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    // The network is closed: without these Chromium waits on outbound
    // connections (updates, sync, QUIC probes).
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        // The crash handler would start in a process group of its own.
        "--disable-crash-reporter",
        "--disable-breakpad",
        "--window-size=1400,900",
    ]
    .map(String::from)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let caps = json!({ "goog:chromeOptions": { "binary": chromium, "args": args } });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

/// Polls `probe` until it gives a value; panics after [`WAIT`] naming `what`.
async fn wait<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Clicks an element, finding it afresh until the click lands: the dashboard
/// redraws lists and panels on every update, which can replace an element
/// between finding and clicking it.
async fn click(c: &Client, locator: Locator<'_>, what: &str) {
    wait(what, || async {
        c.find(locator).await.ok()?.click().await.ok()
    })
    .await;
}

/// The SVG the page last exported (the test hooks the download).
async fn exported(c: &Client, what: &str) -> String {
    wait(what, || async {
        js(c, "return window.exported || null")
            .await
            .as_str()
            .map(String::from)
    })
    .await
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script")
}

async fn log_in(c: &Client, token: &str) {
    let field = c.find(Locator::Id("token")).await.expect("token field");
    field.clear().await.expect("clear");
    field.send_keys(token).await.expect("type token");
    click(c, Locator::Id("login-button"), "login button").await;
}

/// Links drawn on the map, once the app is shown.
async fn drawn_links(c: &Client) -> Option<u64> {
    let v = js(
        c,
        "return document.getElementById('app').hidden ? null \
         : document.querySelectorAll('#map [data-link]').length",
    )
    .await;
    v.as_u64().filter(|n| *n > 0)
}

fn css_id(attr: &str, id: &str) -> String {
    format!(
        "[{attr}=\"{}\"]",
        id.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// The first link on the first path of a service, as its owner sees it, once
/// an allocation carries it.
fn first_link_of(s: &Server, token: &str, id: &str) -> String {
    let link = |s: &Server| {
        let (_, a) = s.get(&format!("/api/v1/services/{id}/allocation"), Some(token));
        a["flows"][0]["paths"][0]["links"][0]
            .as_str()
            .map(String::from)
    };
    s.wait_for(|s| link(s).is_some(), "the service's allocation");
    link(s).expect("a path")
}

/// Opens the dashboard. A navigation error to the ready local server is the
/// browser's, not the page's: tried up to three times, each error shown.
async fn open(c: &Client, url: &str) {
    let mut last = None;
    for _ in 0..3 {
        match c.goto(&format!("{url}/")).await {
            Ok(()) => return,
            Err(e) => {
                eprintln!("opening the dashboard: {e}");
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    panic!("cannot open the dashboard: {last:?}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn vpn(sites: &[&str]) -> Value {
    json!({ "kind": "vpn", "class": "business", "rate": "1G",
            "endpoints": sites.iter().map(|s| json!({ "site": s })).collect::<Vec<_>>() })
}

#[test]
fn the_dashboard_shows_the_network_and_follows_it_live() {
    let (chromium, driver_bin) = match tools() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP: browser test: {why}");
            return;
        }
    };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir("admin");
    let s = Server::start(&dir);
    let topo = s.admin_get("/api/v1/topology");
    let links: Vec<String> = topo["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    let mut svc = vpn(&["NYCM", "CHIN"]);
    svc["tenant"] = json!("acme");
    let (status, v) = s.post("/api/v1/services", &s.admin, &svc);
    assert_eq!(status, 201, "{v}");
    let svc_id = v["service"]["id"].as_str().expect("id").to_string();
    let svc_link = first_link_of(&s, &s.admin, &svc_id);
    let driver = Driver::start(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium, &dir.join("profile")).await;
        open(&c, &s.url).await;
        shot(&c, "01-login").await;

        // A wrong token is refused with a message, and the app stays hidden.
        log_in(&c, "keel_not-a-token").await;
        let error = wait("the login error", || async {
            let e = c.find(Locator::Id("login-error")).await.ok()?;
            Some(e.text().await.ok()?).filter(|t| !t.is_empty())
        })
        .await;
        assert!(error.contains("not valid"), "{error}");
        assert_eq!(
            js(&c, "return document.getElementById('app').hidden").await,
            true
        );
        shot(&c, "02-wrong-token").await;

        // Every link of the topology is on the map.
        log_in(&c, &s.admin).await;
        let drawn = wait("the map", || drawn_links(&c)).await;
        assert_eq!(drawn, links.len() as u64);
        // Counters arrive on the event stream (every 200 ms here).
        let max = wait("the measured maximum", || async {
            let e = c.find(Locator::Id("max-util")).await.ok()?;
            e.text().await.ok().filter(|t| t.ends_with('%'))
        })
        .await;
        assert!(max.starts_with("max "), "{max}");
        shot(&c, "03-map").await;

        // The service is listed with its state; selecting it shows its paths
        // and marks them on the map.
        click(
            &c,
            Locator::Css("#tabs [data-tab=services-panel]"),
            "services tab",
        )
        .await;
        // The table is redrawn on every update: find, read and click afresh
        // each time, so an element replaced in between is simply found again.
        let row_css = css_id("data-service", &svc_id);
        let text = wait("the service row", || async {
            let e = c.find(Locator::Css(&row_css)).await.ok()?;
            e.text().await.ok().filter(|t| t.contains("active"))
        })
        .await;
        assert!(text.contains("active"), "{text}");
        wait("a click on the service", || async {
            let e = c.find(Locator::Css(&row_css)).await.ok()?;
            e.click().await.ok()
        })
        .await;
        let detail = wait("the service's paths", || async {
            let e = c.find(Locator::Id("service-detail")).await.ok()?;
            Some(e.text().await.ok()?).filter(|t| t.contains("NYCM →"))
        })
        .await;
        assert!(detail.contains("CHIN"), "{detail}");
        let marked = js(
            &c,
            "return document.querySelectorAll('#map line.highlight').length",
        )
        .await;
        assert!(marked.as_u64().is_some_and(|n| n > 0), "{marked}");
        shot(&c, "03b-service").await;

        // Clicking a link opens its utilisation plot and the services crossing it.
        let picked = &svc_link;
        click(
            &c,
            Locator::Css(&css_id("data-link", picked)),
            "the link on the map",
        )
        .await;
        let points = wait("the utilisation plot", || async {
            let p = c
                .find(Locator::Css("#link-plot polyline.util"))
                .await
                .ok()?;
            p.attr("points").await.ok()?.filter(|p| !p.is_empty())
        })
        .await;
        assert!(points.split(' ').count() >= 1, "{points}");
        let title = wait("the link's title", || async {
            let e = c.find(Locator::Id("link-title")).await.ok()?;
            e.text().await.ok()
        })
        .await;
        assert_eq!(&title, picked);
        wait("the service crossing the link", || async {
            let e = c.find(Locator::Id("link-services")).await.ok()?;
            e.text().await.ok().filter(|t| t.contains(svc_id.as_str()))
        })
        .await;
        shot(&c, "04-link-plot").await;

        // The what-if panel predicts the failure of the selected link.
        click(&c, Locator::Id("link-whatif"), "what-if button").await;
        let facts = wait("the what-if prediction", || async {
            let e = c.find(Locator::Id("whatif-facts")).await.ok()?;
            Some(e.text().await.ok()?).filter(|t| t.contains("lost"))
        })
        .await;
        assert!(facts.contains("worst utilisation"), "{facts}");
        shot(&c, "05-whatif").await;

        // ... and its button drains the link: grey on the map.
        click(&c, Locator::Id("whatif-drain"), "drain button").await;
        wait("the drained link to turn grey", || async {
            let e = c
                .find(Locator::Css(&css_id("data-link", picked)))
                .await
                .ok()?;
            e.attr("class")
                .await
                .ok()?
                .filter(|c| c.split(' ').any(|k| k == "drained"))
        })
        .await;
        let drained = s.admin_get("/api/v1/status")["links_drained"].clone();
        assert_eq!(drained, json!([picked]));

        // A failure in the network turns its link red on the map.
        let victim = links.iter().find(|l| *l != picked).expect("another link");
        let path = format!(
            "/api/v1/sim/links/{}/fail",
            victim.replace('>', "%3E").replace(' ', "%20")
        );
        let (status, v) = s.post(&path, &s.admin, &json!({}));
        assert_eq!(status, 200, "{v}");
        let class = wait("the failed link to turn red", || async {
            let e = c
                .find(Locator::Css(&css_id("data-link", victim)))
                .await
                .ok()?;
            e.attr("class")
                .await
                .ok()?
                .filter(|c| c.split(' ').any(|k| k == "down"))
        })
        .await;
        assert!(class.contains("down"));
        let e = c
            .find(Locator::Css(&css_id("data-link", victim)))
            .await
            .expect("link");
        assert_eq!(
            e.attr("stroke").await.expect("stroke").as_deref(),
            Some("#d32f2f")
        );
        shot(&c, "06-link-down").await;

        // The timeline has the failure.
        click(
            &c,
            Locator::Css("#tabs [data-tab=timeline-panel]"),
            "timeline tab",
        )
        .await;
        let line = wait("the failure in the timeline", || async {
            let e = c.find(Locator::Id("timeline")).await.ok()?;
            let text = e.text().await.ok()?;
            text.lines()
                .find(|l| l.contains(victim.as_str()) && l.contains("DOWN"))
                .map(String::from)
        })
        .await;
        assert!(line.contains("link"), "{line}");
        shot(&c, "07-timeline").await;

        // Export: the downloaded SVG is the map, every link in it, colours kept.
        // The download itself is stubbed: the file is caught as it is made.
        js(
            &c,
            "URL.createObjectURL = b => { b.text().then(t => { window.exported = t; }); \
             return 'about:blank'; }; HTMLAnchorElement.prototype.click = function () {}; \
             return true",
        )
        .await;
        click(&c, Locator::Id("export-map"), "export button").await;
        let svg = exported(&c, "the exported SVG").await;
        assert!(svg.contains("<svg") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("data-link=").count(), links.len());
        assert!(
            svg.contains("stroke=\"#d32f2f\""),
            "the failed link is red in the export"
        );
        std::fs::write(screenshots().join("keel-map.svg"), &svg).expect("write export");

        // ... and the selected link's plot.
        click(&c, Locator::Css("#tabs [data-tab=link-panel]"), "link tab").await;
        js(&c, "window.exported = null; return true").await;
        click(&c, Locator::Id("export-plot"), "plot export button").await;
        let plot = exported(&c, "the exported plot").await;
        assert!(
            plot.contains("<svg") && plot.contains("<polyline"),
            "{plot}"
        );
        std::fs::write(screenshots().join("keel-link-plot.svg"), &plot).expect("write export");
        let _ = c.close().await;
    });
    drop(driver);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tenant_sees_only_its_own_services() {
    let (chromium, driver_bin) = match tools() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP: browser test: {why}");
            return;
        }
    };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir("tenant");
    let s = Server::start(&dir);
    let acme = s.token("acme-portal", "tenant", Some("acme"));
    let globex = s.token("globex-portal", "tenant", Some("globex"));
    let id = |token: &str, sites: &[&str]| {
        let (status, v) = s.post("/api/v1/services", token, &vpn(sites));
        assert_eq!(status, 201, "{v}");
        v["service"]["id"].as_str().expect("id").to_string()
    };
    let mine = id(&acme, &["NYCM", "CHIN"]);
    let theirs = id(&globex, &["LOSA", "SNVA"]);
    let driver = Driver::start(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium, &dir.join("profile")).await;
        open(&c, &s.url).await;
        log_in(&c, &acme).await;
        wait("the map", || drawn_links(&c)).await;
        click(
            &c,
            Locator::Css("#tabs [data-tab=services-panel]"),
            "services tab",
        )
        .await;
        let listed = wait("the service list", || async {
            let v = js(
                &c,
                "return [...document.querySelectorAll('#services tbody tr[data-service]')]\
                 .map(r => r.dataset.service)",
            )
            .await;
            let ids: Vec<String> = serde_json::from_value(v).ok()?;
            (!ids.is_empty()).then_some(ids)
        })
        .await;
        assert_eq!(listed, vec![mine.clone()]);
        let page = c.source().await.expect("page source");
        assert!(page.contains(&mine));
        assert!(!page.contains(&theirs), "the other tenant's service shows");
        assert!(!page.contains("globex"), "the other tenant shows");
        shot(&c, "07-tenant-services").await;

        // A link on its path lists its service (from its own allocation: a
        // tenant cannot read link state).
        let on_path = first_link_of(&s, &acme, &mine);
        click(
            &c,
            Locator::Css(&css_id("data-link", &on_path)),
            "the link on the map",
        )
        .await;
        let crossing = wait("the tenant's service on the link", || async {
            let e = c.find(Locator::Id("link-services")).await.ok()?;
            e.text().await.ok().filter(|t| t.contains(mine.as_str()))
        })
        .await;
        assert!(!crossing.contains(&theirs), "{crossing}");
        shot(&c, "07b-tenant-link").await;
        let _ = c.close().await;
    });
    drop(driver);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where each link is drawn, as the map has it now.
async fn link_geometry(c: &Client) -> Value {
    js(
        c,
        "return [...document.querySelectorAll('#map [data-link]')].map(l => \
         [l.getAttribute('data-link'), l.getAttribute('x1'), l.getAttribute('y1'), \
          l.getAttribute('x2'), l.getAttribute('y2')])",
    )
    .await
}

#[test]
fn a_network_without_coordinates_is_laid_out_the_same_on_every_load_and_redrawn_on_import() {
    let (chromium, driver_bin) = match tools() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP: browser test: {why}");
            return;
        }
    };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir("layout");
    // B4 as published for NCFlow has no coordinates.
    let b4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/b4.json");
    let s = Server::start_with(&dir, &["--topology", &b4.to_string_lossy()]);
    let topo = s.admin_get("/api/v1/topology");
    let sites = topo["sites"].as_array().expect("sites").len();
    assert!(topo["sites"][0]["location"].is_null(), "{topo}");
    let driver = Driver::start(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium, &dir.join("profile")).await;
        open(&c, &s.url).await;
        log_in(&c, &s.admin).await;
        wait("the map", || drawn_links(&c)).await;
        let first = link_geometry(&c).await;
        // Every site has a place of its own.
        let places = js(
            &c,
            "return new Set([...document.querySelectorAll('#map circle')]\
             .map(e => e.getAttribute('cx') + ',' + e.getAttribute('cy'))).size",
        )
        .await;
        assert_eq!(places.as_u64(), Some(sites as u64));
        shot(&c, "08-b4-layout").await;

        // A reload logs in again from the session and draws the same map.
        c.refresh().await.expect("reload");
        wait("the map after a reload", || drawn_links(&c)).await;
        assert_eq!(link_geometry(&c).await, first);

        // A new topology version is drawn as soon as it is planned.
        let triangle = json!({
            "name": "triangle",
            "sites": [{"id": "A"}, {"id": "B"}, {"id": "C"}],
            "links": [
                {"from": "A", "to": "B", "capacity": "100G", "bidirectional": true},
                {"from": "B", "to": "C", "capacity": "100G", "bidirectional": true},
                {"from": "C", "to": "A", "capacity": "10G", "bidirectional": true}
            ]
        });
        let (status, v) = s.post("/api/v1/topology", &s.admin, &triangle);
        assert_eq!(status, 201, "{v}");
        wait("the new topology on the map", || async {
            drawn_links(&c).await.filter(|n| *n == 6)
        })
        .await;
        shot(&c, "09-new-topology").await;
        let _ = c.close().await;
    });
    drop(driver);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Measures the dashboard on a large network (README: Dashboard). Run with
/// `KEEL_BROWSER_TOPOLOGY=FILE cargo test -p keel --test browser -- --ignored
/// --nocapture`; prints the timings, asserts only what must hold at any size.
#[test]
#[ignore = "a measurement: needs KEEL_BROWSER_TOPOLOGY"]
fn measure_a_large_topology() {
    let Some(topology) = std::env::var_os("KEEL_BROWSER_TOPOLOGY") else {
        println!("SKIP: set KEEL_BROWSER_TOPOLOGY to a topology file");
        return;
    };
    let (chromium, driver_bin) = match tools() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP: browser test: {why}");
            return;
        }
    };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir("large");
    let topology = topology.to_string_lossy().into_owned();
    let s = Server::start_with(&dir, &["--topology", &topology]);
    let topo = s.admin_get("/api/v1/topology");
    let links: Vec<String> = topo["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    let driver = Driver::start(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium, &dir.join("profile")).await;
        open(&c, &s.url).await;
        let started = Instant::now();
        log_in(&c, &s.admin).await;
        let drawn = wait("the map", || drawn_links(&c)).await;
        let to_map = started.elapsed();
        assert_eq!(drawn, links.len() as u64);
        // The first paint of link states follows the map.
        let measures = wait("the first link paint", || async {
            let v = js(
                &c,
                "const m = n => performance.getEntriesByName(n).map(e => e.duration); \
                 const p = m('keel:paint-links'); \
                 return p.length ? { layout: m('keel:layout')[0], draw: m('keel:draw-map')[0], \
                 paint: p[0] } : null",
            )
            .await;
            (!v.is_null()).then_some(v)
        })
        .await;
        shot(&c, "large-map").await;

        let victim = &links[links.len() / 3];
        let path = format!(
            "/api/v1/sim/links/{}/fail",
            victim.replace('>', "%3E").replace(' ', "%20")
        );
        let failed = Instant::now();
        let (status, v) = s.post(&path, &s.admin, &json!({}));
        assert_eq!(status, 200, "{v}");
        wait("the failed link to turn red", || async {
            let e = c
                .find(Locator::Css(&css_id("data-link", victim)))
                .await
                .ok()?;
            e.attr("class")
                .await
                .ok()?
                .filter(|c| c.split(' ').any(|k| k == "down"))
        })
        .await;
        let to_red = failed.elapsed();
        // A frame while idle: how long the page takes to answer.
        let frame = js(
            &c,
            "const t = performance.now(); \
             return new Promise(r => requestAnimationFrame(() => r(performance.now() - t)))",
        )
        .await;
        shot(&c, "large-link-down").await;
        println!(
            "{} sites, {} links: login to map {:.0} ms; layout {:.0} ms, draw {:.0} ms, \
             paint of all link states {:.0} ms; failure to red {:.0} ms; idle frame {:.0} ms",
            topo["sites"].as_array().map_or(0, Vec::len),
            links.len(),
            to_map.as_secs_f64() * 1e3,
            measures["layout"].as_f64().unwrap_or(f64::NAN),
            measures["draw"].as_f64().unwrap_or(f64::NAN),
            measures["paint"].as_f64().unwrap_or(f64::NAN),
            to_red.as_secs_f64() * 1e3,
            frame.as_f64().unwrap_or(f64::NAN),
        );
        let _ = c.close().await;
    });
    drop(driver);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
