//! Reading a NIR file (HDF5, as `nir.write` lays it out) into a flat graph.
//!
//! A NIR file holds one node, the root `NIRGraph`: a group `node` with a `type` string, a
//! group `nodes` (one group per node, each with its `type` and its parameters as datasets) and
//! a dataset `edges` of `[source, target]` name pairs. A node of type `NIRGraph` nests a graph
//! of its own; it is flattened here, its nodes named `outer.inner` (as NIR's own flattening
//! names them), an edge into the subgraph led to its `Input` node and an edge out of it taken
//! from its `Output` node.

use crate::error::{Error, Result};
use hdf5_pure::{DType, Group};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Subgraphs nested deeper than this are refused (a hostile file could nest without end).
const MAX_DEPTH: usize = 16;

/// A numeric parameter: its shape and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values, as `f64` (NIR files hold `f32`, `f64` and integers).
    pub values: Vec<f64>,
}

/// A parameter of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Numbers.
    Numbers(Array),
    /// A string (such as `padding = "same"`).
    Text(String),
}

/// One node of the flattened graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's name; `outer.inner` inside a subgraph.
    pub name: String,
    /// The NIR type (`Affine`, `LIF`, `Conv2d`, ...).
    pub kind: String,
    /// The parameters, by name.
    pub params: BTreeMap<String, Value>,
    /// Whether the node lies inside a subgraph (its `Input` and `Output` nodes pass data on).
    pub nested: bool,
}

/// A NIR graph with its subgraphs flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The file's NIR format version (empty when the file does not say).
    pub version: String,
    /// The nodes, in the file's order.
    pub nodes: Vec<Node>,
    /// The edges `(source, target)`, by node name.
    pub edges: Vec<(String, String)>,
}

impl Graph {
    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

impl Node {
    /// The numeric parameter `name`, if present.
    pub fn array(&self, name: &str) -> Option<&Array> {
        match self.params.get(name) {
            Some(Value::Numbers(a)) => Some(a),
            _ => None,
        }
    }
}

/// Read `path`, a `.nir` file.
pub fn read(path: &Path) -> Result<Graph> {
    let bytes = crate::files::read(path, crate::files::InputKind::Model)?;
    let fail = |message: String| Error::Data {
        path: path.to_path_buf(),
        message,
    };
    let file = hdf5_pure::File::from_bytes(bytes)
        .map_err(|e| fail(format!("not a NIR file (HDF5): {e}")))?;
    let root = file.root();
    let version = match root.dataset("version") {
        Ok(ds) => ds.read_string().ok().and_then(|v| v.into_iter().next()),
        Err(_) => None,
    }
    .unwrap_or_default();
    let node = root
        .group("node")
        .map_err(|_| fail("not a NIR file: it has no group `node` (the root graph)".into()))?;
    let kind = read_type(path, &node, "node")?;
    if kind != "NIRGraph" {
        return Err(fail(format!(
            "node/type: the root node is a `{kind}`, a NIR file's root is a `NIRGraph`"
        )));
    }
    let mut graph = Graph {
        version,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let reader = Reader {
        path: path.to_path_buf(),
    };
    reader.graph(&node, "", "node", 0, &mut graph)?;
    Ok(graph)
}

struct Reader {
    path: PathBuf,
}

/// The names a graph's edges may use, and what they lead to once flattened.
struct Scope {
    /// Local name -> flattened name, for plain nodes.
    plain: BTreeMap<String, String>,
    /// Local name -> (flattened input node, flattened output node), for subgraphs.
    subgraphs: BTreeMap<String, (Option<String>, Option<String>)>,
}

impl Reader {
    fn fail(&self, at: &str, message: String) -> Error {
        Error::Data {
            path: self.path.clone(),
            message: format!("{at}: {message}"),
        }
    }

    /// Add the nodes and edges of the graph in `group` (at HDF5 path `at`) to `out`, its node
    /// names prefixed with `prefix`. Returns the flattened names of its `Input` and `Output`
    /// nodes.
    fn graph(
        &self,
        group: &Group,
        prefix: &str,
        at: &str,
        depth: usize,
        out: &mut Graph,
    ) -> Result<(Option<String>, Option<String>)> {
        if depth > MAX_DEPTH {
            return Err(self.fail(at, format!("subgraphs nested more than {MAX_DEPTH} deep")));
        }
        let nodes = group
            .group("nodes")
            .map_err(|_| self.fail(at, "a NIRGraph without a group `nodes`".into()))?;
        let members = nodes
            .iter_groups()
            .map_err(|e| self.fail(at, format!("cannot list the nodes: {e}")))?;
        let mut scope = Scope {
            plain: BTreeMap::new(),
            subgraphs: BTreeMap::new(),
        };
        let (mut input, mut output) = (None, None);
        for (name, node) in members {
            let node_at = format!("{at}/nodes/{name}");
            let kind = read_type(&self.path, &node, &node_at)?;
            let flat = format!("{prefix}{name}");
            if kind == "NIRGraph" {
                let ends = self.graph(&node, &format!("{flat}."), &node_at, depth + 1, out)?;
                scope.subgraphs.insert(name, ends);
                continue;
            }
            if kind == "Input" {
                input = Some(flat.clone());
            }
            if kind == "Output" {
                output = Some(flat.clone());
            }
            let params = self.params(&node, &node_at)?;
            out.nodes.push(Node {
                name: flat.clone(),
                kind,
                params,
                nested: depth > 0,
            });
            scope.plain.insert(name, flat);
        }
        for (source, target) in self.edges(group, at)? {
            let s = self.resolve(&scope, &source, true, at, (&source, &target))?;
            let t = self.resolve(&scope, &target, false, at, (&source, &target))?;
            out.edges.push((s, t));
        }
        Ok((input, output))
    }

    /// The flattened name an edge's end `name` leads to: a plain node, or a subgraph's
    /// output (as a source) or input (as a target).
    fn resolve(
        &self,
        scope: &Scope,
        name: &str,
        source: bool,
        at: &str,
        edge: (&str, &str),
    ) -> Result<String> {
        if let Some(flat) = scope.plain.get(name) {
            return Ok(flat.clone());
        }
        let missing = |what: &str| {
            self.fail(
                &format!("{at}/edges"),
                format!(
                    "the edge `{}` -> `{}` names {what}; the graph's nodes are {}",
                    edge.0,
                    edge.1,
                    scope
                        .plain
                        .keys()
                        .chain(scope.subgraphs.keys())
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        match scope.subgraphs.get(name) {
            Some((input, output)) => {
                let end = if source { output } else { input };
                end.clone().ok_or_else(|| {
                    missing(&format!(
                        "the subgraph `{name}`, which has no {} node",
                        if source { "Output" } else { "Input" }
                    ))
                })
            }
            None => Err(missing(&format!("a missing node `{name}`"))),
        }
    }

    fn edges(&self, group: &Group, at: &str) -> Result<Vec<(String, String)>> {
        let ds = match group.dataset("edges") {
            Ok(ds) => ds,
            Err(_) => return Ok(Vec::new()),
        };
        let names = ds
            .read_string()
            .map_err(|e| self.fail(&format!("{at}/edges"), format!("not a list of names: {e}")))?;
        if names.len() % 2 != 0 {
            return Err(self.fail(
                &format!("{at}/edges"),
                format!("{} names, not pairs [source, target]", names.len()),
            ));
        }
        Ok(names
            .chunks_exact(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect())
    }

    /// Every dataset of a node but `type`, as numbers or text.
    fn params(&self, node: &Group, at: &str) -> Result<BTreeMap<String, Value>> {
        let mut params = BTreeMap::new();
        let datasets = node
            .iter_datasets()
            .map_err(|e| self.fail(at, format!("cannot list the parameters: {e}")))?;
        for (name, ds) in datasets {
            if name == "type" {
                continue;
            }
            let here = format!("{at}/{name}");
            let dtype = ds
                .dtype()
                .map_err(|e| self.fail(&here, format!("unreadable type: {e}")))?;
            let value = if is_text(&dtype) {
                let text = ds
                    .read_string()
                    .map_err(|e| self.fail(&here, format!("unreadable string: {e}")))?;
                Value::Text(text.join(","))
            } else {
                let shape = ds
                    .shape()
                    .map_err(|e| self.fail(&here, format!("unreadable shape: {e}")))?;
                let values = ds
                    .read_f64()
                    .map_err(|e| self.fail(&here, format!("not numbers: {e}")))?;
                let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
                if values.len() != shape.iter().product::<usize>() {
                    return Err(self.fail(
                        &here,
                        format!("{} values for the shape {shape:?}", values.len()),
                    ));
                }
                Value::Numbers(Array { shape, values })
            };
            params.insert(name, value);
        }
        Ok(params)
    }
}

fn is_text(dtype: &DType) -> bool {
    matches!(dtype, DType::String | DType::VariableLengthString)
}

/// The `type` string of the node group at `at`.
fn read_type(path: &Path, group: &Group, at: &str) -> Result<String> {
    let fail = |message: String| Error::Data {
        path: path.to_path_buf(),
        message: format!("{at}: {message}"),
    };
    let ds = group
        .dataset("type")
        .map_err(|_| fail("a node without a `type`".into()))?;
    let text = ds
        .read_string()
        .map_err(|e| fail(format!("type: not a string: {e}")))?;
    text.into_iter()
        .next()
        .ok_or_else(|| fail("type: empty".into()))
}
