//! `flotilla get sources|kustomizations`: one line per object with its revision and its
//! `Ready` condition, like `flux get`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use crds::conditions::{Condition, ConditionsExt, types};
use crds::{GitRepository, Kustomization};
use kube::api::{Api, ListParams};
use kube::core::ObjectMeta;

use crate::cli::{GetArgs, GetCommand};

use super::operator::{client, runtime};

/// One table row before formatting.
struct Row {
    namespace: String,
    name: String,
    revision: String,
    ready: String,
    message: String,
    age: String,
}

pub fn run(command: GetCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (args, rows): (GetArgs, Vec<Row>) = match command {
            GetCommand::Sources(args) => {
                let rows = list::<GitRepository>(&args)
                    .await?
                    .into_iter()
                    .map(|g| {
                        let status = g.status.unwrap_or_default();
                        row(
                            &g.metadata,
                            status.artifact.map(|a| a.revision).unwrap_or_default(),
                            &status.conditions,
                        )
                    })
                    .collect();
                (args, rows)
            }
            GetCommand::Kustomizations(args) => {
                let rows = list::<Kustomization>(&args)
                    .await?
                    .into_iter()
                    .map(|k| {
                        let status = k.status.unwrap_or_default();
                        row(
                            &k.metadata,
                            status.last_applied_revision.unwrap_or_default(),
                            &status.conditions,
                        )
                    })
                    .collect();
                (args, rows)
            }
        };
        print_table(&rows, args.all_namespaces)?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn list<K>(args: &GetArgs) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let client = client(args.cluster.kubeconfig.as_deref()).await?;
    let api: Api<K> = if args.all_namespaces {
        Api::all(client)
    } else {
        Api::namespaced(client, &args.namespace)
    };
    let mut items = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {}", K::plural(&K::DynamicType::default())))?
        .items;
    items.sort_by(|a, b| {
        (a.meta().namespace.as_deref(), a.meta().name.as_deref())
            .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
    });
    Ok(items)
}

fn row(meta: &ObjectMeta, revision: String, conditions: &[Condition]) -> Row {
    let conditions = conditions.to_vec();
    let ready = conditions.find_condition(types::READY);
    // A reconcile in progress says more than a stale Ready.
    let message = match conditions.find_condition(types::RECONCILING) {
        Some(r) if r.status == "True" && ready.is_none_or(|c| c.status != "True") => {
            r.message.clone()
        }
        _ => ready.map(|c| c.message.clone()).unwrap_or_default(),
    };
    Row {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        revision,
        ready: ready
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "Unknown".to_owned()),
        message: message.lines().next().unwrap_or_default().to_owned(),
        age: meta
            .creation_timestamp
            .as_ref()
            .map(|t| age(t.0.as_second()))
            .unwrap_or_default(),
    }
}

/// kubectl's short age format: `45s`, `12m`, `3h`, `5d`.
fn age(created_unix: i64) -> String {
    let secs = (chrono::Utc::now().timestamp() - created_unix).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 2 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn print_table(rows: &[Row], with_namespace: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        writeln!(out, "No objects found.").context("writing to stdout")?;
        return Ok(());
    }
    let mut header = vec!["NAME", "REVISION", "READY", "MESSAGE", "AGE"];
    if with_namespace {
        header.insert(0, "NAMESPACE");
    }
    let cells: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| {
            let mut v = vec![
                r.name.as_str(),
                r.revision.as_str(),
                r.ready.as_str(),
                r.message.as_str(),
                r.age.as_str(),
            ];
            if with_namespace {
                v.insert(0, r.namespace.as_str());
            }
            v
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in std::iter::once(&header).chain(cells.iter()) {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i + 1 == line.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end()).context("writing to stdout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(age(now - 5), "5s");
        assert_eq!(age(now - 600), "10m");
        assert_eq!(age(now - 3 * 3600), "3h");
        assert_eq!(age(now - 3 * 86400), "3d");
    }
}
