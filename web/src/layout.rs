//! A force-directed layout computed on the server (Fruchterman and Reingold, 1991: linked nodes
//! attract, all nodes repel, the step cools each round), so the network page draws with
//! JavaScript off. Deterministic: nodes start on a circle in the order given, so a page
//! reloads to the same picture.

/// Positions in the unit square for `n` nodes joined by `links` (index pairs).
pub fn layout(n: usize, links: &[(usize, usize)], rounds: usize) -> Vec<(f64, f64)> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![(0.5, 0.5)];
    }
    let k = (1.0 / n as f64).sqrt();
    let mut pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            (0.5 + 0.4 * a.cos(), 0.5 + 0.4 * a.sin())
        })
        .collect();
    let mut step = 0.1;
    for _ in 0..rounds {
        let mut disp = vec![(0.0f64, 0.0f64); n];
        for i in 0..n {
            for j in (i + 1)..n {
                let (dx, dy) = (pos[i].0 - pos[j].0, pos[i].1 - pos[j].1);
                let d = (dx * dx + dy * dy).sqrt().max(1e-4);
                let f = k * k / d;
                disp[i].0 += dx / d * f;
                disp[i].1 += dy / d * f;
                disp[j].0 -= dx / d * f;
                disp[j].1 -= dy / d * f;
            }
        }
        for &(a, b) in links {
            if a >= n || b >= n || a == b {
                continue;
            }
            let (dx, dy) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
            let d = (dx * dx + dy * dy).sqrt().max(1e-4);
            let f = d * d / k;
            disp[a].0 -= dx / d * f;
            disp[a].1 -= dy / d * f;
            disp[b].0 += dx / d * f;
            disp[b].1 += dy / d * f;
        }
        for i in 0..n {
            let (dx, dy) = disp[i];
            let d = (dx * dx + dy * dy).sqrt().max(1e-9);
            let m = d.min(step);
            pos[i].0 += dx / d * m;
            pos[i].1 += dy / d * m;
        }
        step *= 0.97;
    }
    // Fit the drawing to the unit square.
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pos {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (sx, sy) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
    pos.iter()
        .map(|&(x, y)| ((x - x0) / sx, (y - y0) / sy))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    }

    #[test]
    fn linked_nodes_end_closer_than_unlinked_ones_and_reruns_agree() {
        // Two triangles joined by one link: within a triangle nodes sit closer than across.
        let links = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (2, 3)];
        let p = layout(6, &links, 300);
        assert_eq!(p, layout(6, &links, 300));
        let within = dist(p[0], p[1]).max(dist(p[4], p[5]));
        let across = dist(p[0], p[5]).min(dist(p[1], p[4]));
        assert!(within < across, "{p:?}");
        for (x, y) in p {
            assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
        }
    }
}
