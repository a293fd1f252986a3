//! The HTML report in a real browser: headless Chromium loads the page from disk; a copy of
//! the page with a measuring script appended reports what rendered.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo;

/// Chromium from the machine (scripts/test installs Debian's package). Missing is a failure,
/// not a skip.
fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("Chromium not found: run scripts/test (it installs Debian's chromium) or set CHROMIUM");
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

const PROBE: &str = r#"<script>
(function () {
  var out = {charts: [], cards: {}, verdict: ""};
  document.querySelectorAll(".chart").forEach(function (c) {
    var svg = c.querySelector("svg");
    var r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    out.charts.push({id: c.id || c.className, width: r.width, height: r.height,
                     shapes: svg ? svg.querySelectorAll("rect,circle,polyline,path,line,polygon").length : 0});
  });
  document.querySelectorAll(".card").forEach(function (c) {
    var r = c.getBoundingClientRect();
    out.cards[c.id] = {text: c.querySelector(".n").textContent, visible: r.width > 0 && r.height > 0};
  });
  var v = document.getElementById("verdict");
  var vr = v.getBoundingClientRect();
  out.verdict = vr.height > 0 ? v.textContent : "";
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

#[test]
fn the_report_renders_in_headless_chromium_with_charts_verdict_and_headline_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args([
            "simulate",
            "scenarios/bad-deploy.yaml",
            "scenarios/restart-loop.yaml",
            "scenarios/oomkilled-burst.yaml",
        ])
        .args(["--replications", "4", "--sweep-replications", "1", "--out"])
        .arg(&out)
        .current_dir(repo(""))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(!page.contains("<script"), "the report itself needs no JavaScript");
    for remote in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(remote), "the report loads nothing from the network ({remote})");
    }

    let probe = out.join("probe.html");
    std::fs::write(&probe, page.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let dom = headless(&dir.path().join("profile"))
        .args(["--window-size=1200,3000", "--virtual-time-budget=2000", "--dump-dom"])
        .arg(format!("file://{}", probe.display()))
        .output()
        .expect("run chromium");
    let html = String::from_utf8_lossy(&dom.stdout);
    let start = html
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("no probe output: {}", String::from_utf8_lossy(&dom.stderr)));
    let json = &html[start + 16..];
    let json = &json[..json.find("</pre>").unwrap()];
    let v: serde_json::Value = serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();

    let charts = v["charts"].as_array().unwrap();
    assert!(charts.len() >= 4, "MTTR, reliability, a threshold curve per auto-execute type, timeline: {charts:?}");
    for c in charts {
        assert!(c["width"].as_f64().unwrap() > 200.0 && c["height"].as_f64().unwrap() > 150.0, "empty chart box: {c}");
        assert!(c["shapes"].as_u64().unwrap() > 5, "chart without marks: {c}");
    }
    assert!(v["verdict"].as_str().unwrap().len() > 40, "verdict not visible");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let m = &report["metrics"];
    for id in ["h-recovery", "h-verify", "h-mttr", "h-worse", "h-loops", "h-pages"] {
        assert_eq!(v["cards"][id]["visible"], true, "{id} not visible");
    }
    assert_eq!(v["cards"]["h-worse"]["text"], m["made_worse"]["numerator"].to_string());
    assert_eq!(v["cards"]["h-loops"]["text"], m["loops"].to_string());
    assert_eq!(v["cards"]["h-pages"]["text"], m["pages"].to_string());
    let recovery = format!("{:.1}%", m["automated_recovery_rate"]["value"].as_f64().unwrap() * 100.0);
    assert_eq!(v["cards"]["h-recovery"]["text"], recovery);
}
