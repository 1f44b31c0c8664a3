//! The step DAG: edges from `needs`, topological order, waves, ancestors, cycles.

use fixedbitset::FixedBitSet;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Steps by index (0..n) and their `needs` as edges dependency -> dependant.
#[derive(Clone, Debug)]
pub struct Dag {
    graph: DiGraph<(), ()>,
    /// Indices in an order where every step comes after all it needs.
    order: Vec<usize>,
    /// `ancestors[i]` holds every step that `i` transitively needs.
    ancestors: Vec<FixedBitSet>,
    /// `wave[i]`: 0 for steps that need nothing, else 1 + the highest wave they need.
    wave: Vec<usize>,
}

/// A dependency cycle, as step indices in path order (the first is repeated implicitly).
pub type Cycle = Vec<usize>;

impl Dag {
    /// Build the DAG from each step's needs (indices). Fails with every cycle found.
    pub fn build(needs: &[Vec<usize>]) -> Result<Dag, Vec<Cycle>> {
        let n = needs.len();
        let mut graph = DiGraph::with_capacity(n, needs.iter().map(Vec::len).sum());
        for _ in 0..n {
            graph.add_node(());
        }
        for (step, deps) in needs.iter().enumerate() {
            for &dep in deps {
                graph.add_edge(NodeIndex::new(dep), NodeIndex::new(step), ());
            }
        }
        let cycles = find_cycles(&graph, needs);
        if !cycles.is_empty() {
            return Err(cycles);
        }
        let order = kahn_order(n, needs);
        let mut ancestors = vec![FixedBitSet::with_capacity(n); n];
        let mut wave = vec![0; n];
        for &i in &order {
            let mut set = FixedBitSet::with_capacity(n);
            let mut w = 0;
            for &dep in &needs[i] {
                set.insert(dep);
                set.union_with(&ancestors[dep]);
                w = w.max(wave[dep] + 1);
            }
            ancestors[i] = set;
            wave[i] = w;
        }
        Ok(Dag {
            graph,
            order,
            ancestors,
            wave,
        })
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// A topological order, stable with respect to document order among independent steps.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn is_ancestor(&self, ancestor: usize, of: usize) -> bool {
        self.ancestors[of].contains(ancestor)
    }

    pub fn ancestors(&self, of: usize) -> impl Iterator<Item = usize> + '_ {
        self.ancestors[of].ones()
    }

    pub fn wave(&self, step: usize) -> usize {
        self.wave[step]
    }

    /// Steps that directly need `step`.
    pub fn dependants(&self, step: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(step), petgraph::Direction::Outgoing)
            .map(NodeIndex::index)
    }

    /// Steps grouped by wave: everything in a wave can run at the same time.
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let count = self.wave.iter().max().map_or(0, |w| w + 1);
        let mut waves = vec![Vec::new(); count];
        for i in 0..self.wave.len() {
            waves[self.wave[i]].push(i);
        }
        waves
    }

    /// The heaviest path through the DAG, by a weight per step: (total, steps in order).
    pub fn heaviest_path<W>(
        &self,
        weight: impl Fn(usize) -> W,
        needs: &[Vec<usize>],
    ) -> (W, Vec<usize>)
    where
        W: Copy + Ord + Default + std::ops::Add<Output = W>,
    {
        let n = self.order.len();
        let mut best = vec![W::default(); n];
        let mut via: Vec<Option<usize>> = vec![None; n];
        for &i in &self.order {
            let mut base = W::default();
            for &dep in &needs[i] {
                if via[i].is_none() || best[dep] > base {
                    base = best[dep];
                    via[i] = Some(dep);
                }
            }
            best[i] = base + weight(i);
        }
        let Some(end) = (0..n).max_by(|&a, &b| best[a].cmp(&best[b]).then(b.cmp(&a))) else {
            return (W::default(), Vec::new());
        };
        let mut path = vec![end];
        let mut at = end;
        while let Some(prev) = via[at] {
            path.push(prev);
            at = prev;
        }
        path.reverse();
        (best[end], path)
    }
}

/// Kahn's algorithm, taking ready steps in document order so output is deterministic.
fn kahn_order(n: usize, needs: &[Vec<usize>]) -> Vec<usize> {
    let mut remaining: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut dependants = vec![Vec::new(); n];
    for (step, deps) in needs.iter().enumerate() {
        for &dep in deps {
            dependants[dep].push(step);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| remaining[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in &dependants[i] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push(std::cmp::Reverse(d));
            }
        }
    }
    order
}

/// Every strongly connected component that is a cycle, each as a path that follows `needs`.
fn find_cycles(graph: &DiGraph<(), ()>, needs: &[Vec<usize>]) -> Vec<Cycle> {
    let mut cycles = Vec::new();
    for scc in tarjan_scc(graph) {
        let self_loop = scc.len() == 1 && needs[scc[0].index()].contains(&scc[0].index());
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let members: std::collections::BTreeSet<usize> = scc.iter().map(|n| n.index()).collect();
        let start = *members.iter().next().expect("scc is not empty");
        cycles.push(cycle_path(start, &members, needs));
    }
    cycles.sort();
    cycles
}

/// Walk `needs` inside one component from `start` until a step repeats; return that loop.
fn cycle_path(
    start: usize,
    members: &std::collections::BTreeSet<usize>,
    needs: &[Vec<usize>],
) -> Cycle {
    let mut path = vec![start];
    let mut seen = std::collections::HashMap::from([(start, 0usize)]);
    let mut at = start;
    // Every member has a need inside the component, so this ends within `members.len()` steps.
    for _ in 0..=members.len() {
        let Some(&next) = needs[at].iter().filter(|d| members.contains(d)).min() else {
            break;
        };
        if let Some(&pos) = seen.get(&next) {
            let mut cycle = path[pos..].to_vec();
            // Present the cycle in execution order: a needs b means b runs first.
            cycle.reverse();
            return cycle;
        }
        seen.insert(next, path.len());
        path.push(next);
        at = next;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_and_ancestors() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3
        let needs = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let dag = Dag::build(&needs).unwrap();
        assert_eq!(dag.waves(), vec![vec![0], vec![1, 2], vec![3]]);
        assert!(dag.is_ancestor(0, 3));
        assert!(!dag.is_ancestor(1, 2));
        let (total, path) = dag.heaviest_path(|i| [1u64, 5, 2, 1][i], &needs);
        assert_eq!((total, path), (7, vec![0, 1, 3]));
    }

    #[test]
    fn cycles_are_reported_as_paths() {
        let needs = vec![vec![2], vec![0], vec![1], vec![]];
        let cycles = Dag::build(&needs).unwrap_err();
        assert_eq!(cycles.len(), 1);
        let mut c = cycles[0].clone();
        c.sort();
        assert_eq!(c, vec![0, 1, 2]);
    }

    #[test]
    fn self_need_is_a_cycle() {
        assert!(Dag::build(&[vec![0]]).is_err());
    }
}
