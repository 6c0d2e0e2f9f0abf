//! `services down --purge --caches`: the images and folders of a full wipe
//! (`services::wipe` decides), each listed with its size before it goes.

use crate::services::wipe::{self, Item};
use crate::services::Dirs;
use anyhow::{Context, Result};
use xshell::{cmd, Shell};

/// The images `services up` made, listed with their sizes, then removed.
pub fn images(sh: &Shell) {
    let format = "{{.Repository}}:{{.Tag}} {{.Size}}";
    let Ok(listing) = cmd!(sh, "docker image ls --format {format}").quiet().ignore_stderr().read() else {
        let all = wipe::IMAGES.join(", ");
        println!("images       the engine does not answer: `docker rmi` {all} once it runs");
        return;
    };
    let found = wipe::images(&listing);
    if found.is_empty() {
        println!("images       none of services up's images is left");
        return;
    }
    for (image, size) in &found {
        println!("images       removing {image} ({size})");
    }
    for (image, _) in found {
        if let Err(e) = cmd!(sh, "docker rmi {image}").quiet().ignore_stdout().run() {
            println!("images       {image} stays: {e}");
        }
    }
}

/// The caches and state folders, listed with their sizes, then removed; the
/// refused ones named with why.
pub fn folders(dirs: &Dirs) -> Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let env = |k: &str| std::env::var(k).ok();
    let items = wipe::plan(dirs, &env, &wipe::probe, &wipe::mount_points(&mountinfo));
    if items.is_empty() {
        println!("folders      none left");
        return Ok(());
    }
    let (go, stay): (Vec<&Item>, Vec<&Item>) = items.iter().partition(|i| i.refused.is_none());
    let sizes: Vec<u64> = go.iter().map(|i| wipe::size(&i.path)).collect();
    for (i, size) in go.iter().zip(&sizes) {
        println!("folders      removing {} ({}): {}", i.path.display(), wipe::human(*size), i.what);
    }
    for i in &stay {
        println!("folders      left {}: {}", i.path.display(), i.refused.as_deref().unwrap_or_default());
    }
    for i in &go {
        std::fs::remove_dir_all(&i.path).with_context(|| format!("cannot remove {}", i.path.display()))?;
    }
    println!("folders      removed {} ({} freed)", go.len(), wipe::human(sizes.iter().sum()));
    Ok(())
}
