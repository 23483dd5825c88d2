//! `semverCompare` constraints as Masterminds/semver v3 reads them: `||` alternatives of
//! space- or comma-separated comparisons; a pre-release version only satisfies a
//! comparison whose own version carries a pre-release (`>=1.19-0` lets `v1.20.0-gke.1` in).

use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    nums: [u64; 3],
    pre: String,
}

fn parse_version(s: &str) -> Result<Version, String> {
    let t = s.trim().trim_start_matches(['v', 'V']);
    let t = t.split('+').next().unwrap_or(t);
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (t, String::new()),
    };
    let mut nums = [0u64; 3];
    for (i, p) in core.split('.').enumerate() {
        if i > 2 {
            return Err("Invalid Semantic Version".to_string());
        }
        if p == "x" || p == "X" || p == "*" {
            break;
        }
        nums[i] = p
            .parse()
            .map_err(|_| "Invalid Semantic Version".to_string())?;
    }
    Ok(Version { nums, pre })
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    a.nums
        .cmp(&b.nums)
        .then_with(|| match (a.pre.is_empty(), b.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => cmp_pre(&a.pre, &b.pre),
        })
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Whether `version` satisfies `constraint`.
pub fn matches(constraint: &str, version: &str) -> Result<bool, String> {
    let v = parse_version(version)?;
    for alt in constraint.split("||") {
        let mut ok = true;
        let parts: Vec<&str> = alt.split([',', ' ']).filter(|p| !p.is_empty()).collect();
        let mut i = 0;
        while i < parts.len() {
            let mut p = parts[i].to_string();
            // `>= 1.2` with a space between operator and version.
            if p.chars().all(|c| "<>=!~^".contains(c)) && i + 1 < parts.len() {
                i += 1;
                p.push_str(parts[i]);
            }
            i += 1;
            let op_len = p.len() - p.trim_start_matches(|c| "<>=!~^".contains(c)).len();
            let (op, ver) = p.split_at(op_len);
            let c = parse_version(ver).map_err(|_| format!("improper constraint: {constraint}"))?;
            if !v.pre.is_empty() && c.pre.is_empty() {
                ok = false;
                break;
            }
            let o = cmp(&v, &c);
            let sat = match op {
                "" | "=" => o == Ordering::Equal,
                "!=" => o != Ordering::Equal,
                ">" => o == Ordering::Greater,
                "<" => o == Ordering::Less,
                ">=" | "=>" => o != Ordering::Less,
                "<=" | "=<" => o != Ordering::Greater,
                "~" | "~>" => {
                    o != Ordering::Less && v.nums[0] == c.nums[0] && v.nums[1] == c.nums[1]
                }
                "^" => o != Ordering::Less && v.nums[0] == c.nums[0],
                _ => return Err(format!("improper constraint: {constraint}")),
            };
            if !sat {
                ok = false;
                break;
            }
        }
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}
