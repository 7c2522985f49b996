//! The population graph: populations as nodes, projections and inputs as edges.
//!
//! Built with petgraph from the unchecked file to check names (duplicates, unknown references)
//! and to export Graphviz DOT (`synops graph FILE`). The engines never see it: at run time
//! connectivity lives in flat CSR tables.

use super::names::check_name;
use super::parse::nearest;
use super::spec::{ConnectivitySpec, InputSpec, NetworkSpec};
use crate::error::{Error, Result};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// A node: one population.
#[derive(Debug, Clone)]
pub struct PopulationNode {
    /// Population name.
    pub name: String,
    /// Number of neurons.
    pub size: u64,
    /// Model name.
    pub model: &'static str,
}

/// An edge: one projection.
#[derive(Debug, Clone)]
pub struct ProjectionEdge {
    /// Projection name.
    pub name: String,
    /// Connectivity rule, e.g. `fixed_indegree`.
    pub rule: String,
}

/// Populations and projections of a network file as a directed graph.
#[derive(Debug, Clone)]
pub struct PopulationGraph {
    /// The graph.
    pub graph: DiGraph<PopulationNode, ProjectionEdge>,
    /// Independent inputs, as `(input label, target node)`.
    pub inputs: Vec<(String, NodeIndex)>,
}

impl PopulationGraph {
    /// Build the graph, refusing duplicate population names and unknown references.
    pub fn from_spec(spec: &NetworkSpec, path: &Path) -> Result<Self> {
        let mut graph = DiGraph::new();
        let mut index: HashMap<&str, NodeIndex> = HashMap::new();
        let named = |field: String, name: &str, projection: bool| {
            check_name(name, projection).map_err(|m| Error::invalid(path, field, m))
        };
        named("name".into(), &spec.name, false)?;
        for p in &spec.populations {
            named(format!("population {:?}.name", p.name), &p.name, false)?;
            let node = graph.add_node(PopulationNode {
                name: p.name.clone(),
                size: p.size,
                model: p.model.as_str(),
            });
            if index.insert(p.name.as_str(), node).is_some() {
                return Err(Error::invalid(
                    path,
                    format!("population \"{}\".name", p.name),
                    "duplicate population name",
                ));
            }
        }
        let lookup = |name: &str, field: String| -> Result<NodeIndex> {
            index.get(name).copied().ok_or_else(|| {
                let hint = nearest(name, index.keys().copied())
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                let mut known: Vec<&str> = index.keys().copied().collect();
                known.sort_unstable();
                Error::invalid(
                    path,
                    field,
                    format!(
                        "unknown population `{name}` (known: {}){hint}",
                        known.join(", ")
                    ),
                )
            })
        };
        let mut names = std::collections::HashSet::new();
        for pr in &spec.projections {
            let name = pr
                .name
                .clone()
                .unwrap_or_else(|| format!("{}->{}", pr.source, pr.target));
            if pr.name.is_some() {
                named(format!("projection {name:?}.name"), &name, true)?;
            }
            let s = lookup(&pr.source, format!("projection \"{name}\".source"))?;
            let t = lookup(&pr.target, format!("projection \"{name}\".target"))?;
            if !names.insert(name.clone()) {
                return Err(Error::invalid(
                    path,
                    format!("projection \"{name}\".name"),
                    "duplicate projection name (give each projection a distinct `name`)",
                ));
            }
            let rule = match &pr.connectivity {
                ConnectivitySpec::AllToAll => "all_to_all".to_string(),
                ConnectivitySpec::OneToOne => "one_to_one".to_string(),
                ConnectivitySpec::FixedProbability { p } => format!("p = {p}"),
                ConnectivitySpec::FixedIndegree { indegree } => format!("indegree {indegree}"),
                ConnectivitySpec::FixedOutdegree { outdegree } => format!("outdegree {outdegree}"),
                ConnectivitySpec::FromFile { file } => format!("from {file}"),
                ConnectivitySpec::Dense { tensor, .. } => format!("dense {tensor}"),
                ConnectivitySpec::Conv { tensor, pool, .. } => match pool {
                    Some(_) => format!("pool + conv {tensor}"),
                    None => format!("conv {tensor}"),
                },
            };
            graph.add_edge(s, t, ProjectionEdge { name, rule });
        }
        let mut inputs = Vec::new();
        for (k, input) in spec.inputs.iter().enumerate() {
            let (label, target) = match input {
                InputSpec::Poisson {
                    target, rate_hz, ..
                } => (format!("poisson {rate_hz} Hz"), target),
                InputSpec::Current { target, .. } => ("current".to_string(), target),
                InputSpec::Noise { target, std_mv, .. } => (format!("noise σ {std_mv} mV"), target),
            };
            inputs.push((label, lookup(target, format!("input[{k}].target"))?));
        }
        Ok(PopulationGraph { graph, inputs })
    }

    /// Graphviz DOT text of the graph.
    pub fn to_dot(&self, network_name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{network_name}\" {{");
        let _ = writeln!(out, "  rankdir=LR;");
        for i in self.graph.node_indices() {
            let n = &self.graph[i];
            let _ = writeln!(
                out,
                "  p{} [label=\"{}\\n{} x {}\", shape=box];",
                i.index(),
                n.name,
                n.size,
                n.model
            );
        }
        for e in self.graph.edge_indices() {
            let (s, t) = self.graph.edge_endpoints(e).expect("edge exists");
            let w = &self.graph[e];
            let _ = writeln!(
                out,
                "  p{} -> p{} [label=\"{}\\n{}\"];",
                s.index(),
                t.index(),
                w.name,
                w.rule
            );
        }
        for (k, (label, target)) in self.inputs.iter().enumerate() {
            let _ = writeln!(out, "  in{k} [label=\"{label}\", shape=plaintext];");
            let _ = writeln!(out, "  in{k} -> p{} [style=dashed];", target.index());
        }
        out.push_str("}\n");
        out
    }
}
