//! A second product (issue 18): Thunderbird builds carry their own name and MAR channel id,
//! configure refuses builds of another product, and Firefox and Thunderbird ship through one
//! update server and one CDN, each client offered its own product's MARs.

use std::path::Path;

use kiln_tools::release::config::Config;
use kiln_tools::release::quickstart;

use super::story::*;

const TB_CHANNEL: &str = "thunderbird-comm-release";

/// Fixtures of `product` for `versions`, in en-US and de (de: the acme partner's locale).
fn fixtures(product: &str, channel: Option<&str>, versions: &[&str]) -> kiln_fixtures::Options {
    kiln_fixtures::Options {
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        locales: "de".parse().unwrap(),
        product: product.to_owned(),
        mar_channel_id: channel.map(str::to_owned),
        ..Default::default()
    }
}

/// What a client of the shipped 119.0 `linux-x86_64/de` build of `config`'s product sees: its
/// check URL, the MAR URLs it is offered, and the version it runs after the update.
fn client(config: &Config, dir: &Path) -> (String, Vec<String>, String) {
    let stem = config.product.to_ascii_lowercase();
    let archive = config
        .root
        .join("releases/119.0/linux-x86_64/de")
        .join(format!("{stem}-119.0.tar.xz"));
    let root = dir.join(format!("client-{stem}"));
    l10n_repack::extract(&archive, &root).unwrap();
    let install = root.join(&stem);
    let updater = client_updater::Updater::from_install_config(&install)
        .unwrap()
        .build()
        .unwrap();
    let url = updater.check_urls(false).unwrap().remove(0);
    let offer = updater.check(false).unwrap().expect("an update is offered");
    let mars = offer.patches.iter().map(|p| p.url.clone()).collect();
    // Taking it proves the MAR's channel is one the build accepts (no error 22).
    updater.update_once(false).unwrap();
    let version = match updater.finish_pending().unwrap() {
        client_updater::StartOutcome::Updated(version) => version,
        other => panic!("{stem}: the update did not go in: {other:?}"),
    };
    (url, mars, version)
}

#[test]
fn two_products_share_one_update_server() {
    let versions = ["119.0", "120.0"];
    let (env, others) = quickstart::prepare_with(
        &story_dir("products"),
        &fixtures("Firefox", None, &versions),
        &[fixtures("Thunderbird", Some(TB_CHANNEL), &versions)],
        false,
    )
    .unwrap();
    let tb = &others[0];
    assert_eq!(tb.config.mar_channel_id, TB_CHANNEL);
    let releng = &env.server.releng_token_file;
    for version in versions {
        ship(
            &env.config,
            &env.config_path,
            &env.commits[version],
            version,
            releng,
        );
        ship(
            &tb.config,
            &tb.config_path,
            &tb.commits[version],
            version,
            releng,
        );
    }
    let files = &env.files.url;
    let thunderbird_cdn = format!("{files}/thunderbird");
    offered_its_own_mars(
        &tb.config,
        &env,
        "Thunderbird",
        "thunderbird",
        &thunderbird_cdn,
    );
    offered_its_own_mars(&env.config, &env, "Firefox", "firefox", files);
}

/// A 119.0 client of `config`'s product asks for `/update/6/<product>/…`, is offered the
/// 119.0→120.0 partial and the 120.0 complete named `<stem>-…` under `cdn`'s releases, and
/// takes the update.
fn offered_its_own_mars(
    config: &Config,
    env: &quickstart::Env,
    product: &str,
    stem: &str,
    cdn: &str,
) {
    let (url, mars, version) = client(config, &env.dir);
    let server = &env.server.server.url;
    assert!(
        url.starts_with(&format!("{server}/update/6/{product}/119.0/")),
        "{url}"
    );
    let update = format!("{cdn}/releases/120.0/update/linux-x86_64/de");
    assert_eq!(
        mars,
        [
            format!("{update}/{stem}-119.0-120.0.partial.mar"),
            format!("{update}/{stem}-120.0.complete.mar"),
        ]
    );
    assert_eq!(version, "120.0");
}

#[test]
fn configure_refuses_another_products_builds_naming_both_values() {
    let env = quickstart::prepare(
        &story_dir("wrong-product"),
        &fixtures("Thunderbird", Some(TB_CHANNEL), &["121.0"]),
        false,
    )
    .unwrap();
    let config = &env.config_path;
    let commit = &env.commits["121.0"];
    kiln_ok(
        config,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--revision",
            commit,
            "--no-promote",
        ],
    );
    // The inputs are replaced by Firefox's builds: as Firefox names them on Linux, and on mac
    // renamed as Thunderbird's (so only its contents, under Firefox.app/, give it away).
    let firefox = env.dir.join("firefox-fixtures");
    kiln_fixtures::generate(&firefox, &fixtures("Firefox", None, &["121.0"])).unwrap();
    let builds = env.config.inputs.join("builds/121.0");
    std::fs::remove_dir_all(&builds).unwrap();
    std::fs::rename(firefox.join("builds/121.0"), &builds).unwrap();
    std::fs::rename(
        builds.join("mac/en-US/firefox-121.0.tar.gz"),
        builds.join("mac/en-US/thunderbird-121.0.tar.gz"),
    )
    .unwrap();

    let promote = kiln(config, &["promote", "Thunderbird-121.0-build1"]);
    assert_eq!(promote.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&promote.stderr);
    for build in [
        "builds/121.0/linux-x86_64/en-US/firefox-121.0.tar.xz",
        "builds/121.0/mac/en-US/thunderbird-121.0.tar.gz",
    ] {
        assert!(
            stderr.contains(&format!(
                "{build}: application.ini Name=Firefox but kiln.toml product = \"Thunderbird\"; \
                 update-settings.ini ACCEPTED_MAR_CHANNEL_IDS=firefox-mozilla-release but \
                 kiln.toml mar_channel_id = \"{TB_CHANNEL}\""
            )),
            "{build}:\n{stderr}"
        );
    }
    assert!(stderr.contains("configure: 3 item(s) failed"), "{stderr}");
    assert!(!env.config.root.join("candidates").exists());

    // go-to-build refuses them before recording anything, with the same words.
    let gtb = kiln(
        config,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--build",
            "2",
            "--revision",
            commit,
        ],
    );
    assert_eq!(gtb.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&gtb.stderr);
    assert!(
        stderr.contains(
            "builds/121.0/linux-x86_64/en-US/firefox-121.0.tar.xz: application.ini Name=Firefox \
             but kiln.toml product = \"Thunderbird\""
        ),
        "{stderr}"
    );
}

#[test]
fn init_writes_the_product_and_its_mar_channel_id() {
    let dir = tempfile::tempdir().unwrap();
    let config = kiln_init(
        dir.path(),
        &["--product", "Thunderbird", "--mar-channel-id", TB_CHANNEL],
    );
    assert_eq!(config.product, "Thunderbird");
    assert_eq!(config.mar_channel_id, TB_CHANNEL);
}
