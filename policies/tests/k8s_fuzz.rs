//! A grammar-based fuzzer comparing Flotilla's CEL with Kubernetes'
//! (`cel-oracle`): it generates typed expressions (ints, uints, doubles,
//! strings, bools, lists, maps, durations, timestamps, fields of the fixture
//! object, library calls, one- and two-variable comprehensions, and now and
//! then an operand of the wrong type), evaluates each on both sides,
//! minimises every disagreement (replacing sub-expressions by their
//! children or by literals of the same type while the two still disagree)
//! and appends it to `fixtures/k8s_cel_fuzz_regressions.txt`, where
//! `k8s_differential` checks it from then on.
//!
//! Ignored by default; run for N seconds with a seed:
//! `FUZZ_SECONDS=1800 FUZZ_SEED=7 cargo test -p flotilla-policies --test k8s_fuzz -- --ignored --nocapture`

mod k8s_oracle;

use std::io::Write;
use std::time::{Duration, Instant};

use k8s_oracle::{Flotilla, Oracle, oracle_or_skip};

const REGRESSIONS: &str = "tests/fixtures/k8s_cel_fuzz_regressions.txt";
const KNOWN: &str = include_str!("fixtures/k8s_cel_known_differences.txt");
const CORPUS: &str = include_str!("fixtures/k8s_cel_corpus.txt");

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Int,
    Uint,
    Double,
    Str,
    Bool,
    ListInt,
    ListStr,
    MapStrInt,
    Dur,
    Ts,
}

const ALL: &[Ty] = &[
    Ty::Int,
    Ty::Uint,
    Ty::Double,
    Ty::Str,
    Ty::Bool,
    Ty::ListInt,
    Ty::ListStr,
    Ty::MapStrInt,
    Ty::Dur,
    Ty::Ts,
];

/// A generated expression: a template with `{0}`, `{1}`… holes, and the
/// sub-expressions filling them.
#[derive(Debug, Clone)]
struct E {
    ty: Ty,
    template: String,
    kids: Vec<E>,
}

impl E {
    fn leaf(ty: Ty, text: impl Into<String>) -> E {
        E {
            ty,
            template: text.into(),
            kids: Vec::new(),
        }
    }

    fn render(&self) -> String {
        let mut out = self.template.clone();
        for (i, k) in self.kids.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), &format!("({})", k.render()));
        }
        out
    }

    fn size(&self) -> usize {
        1 + self.kids.iter().map(E::size).sum::<usize>()
    }
}

fn literal(rng: &mut Rng, ty: Ty) -> E {
    let text = match ty {
        Ty::Int => rng
            .pick(&[
                "0",
                "1",
                "-1",
                "2",
                "3",
                "7",
                "-7",
                "42",
                "9223372036854775807",
                "-9223372036854775808",
            ])
            .to_string(),
        Ty::Uint => rng
            .pick(&["0u", "1u", "2u", "3u", "18446744073709551615u"])
            .to_string(),
        Ty::Double => rng
            .pick(&["0.0", "1.0", "-1.5", "2.5", "0.1", "1e10", "-0.0", "3.0"])
            .to_string(),
        Ty::Str => rng
            .pick(&[
                "''", "'a'", "'abc'", "'A,b,C'", "'héllo'", "'10'", "' x '", "'web'",
            ])
            .to_string(),
        Ty::Bool => rng.pick(&["true", "false"]).to_string(),
        Ty::ListInt => rng
            .pick(&["[]", "[1]", "[3, 1, 2]", "[1, 1, 2]"])
            .to_string(),
        Ty::ListStr => rng
            .pick(&["['a']", "['b', 'a']", "['x', 'y', 'x']"])
            .to_string(),
        Ty::MapStrInt => rng.pick(&["{'a': 1}", "{'a': 1, 'b': 2}"]).to_string(),
        Ty::Dur => rng
            .pick(&[
                "duration('1h')",
                "duration('90s')",
                "duration('-1m')",
                "duration('0')",
            ])
            .to_string(),
        Ty::Ts => rng
            .pick(&[
                "timestamp('2024-01-02T03:04:05Z')",
                "timestamp('1970-01-01T00:00:00Z')",
                "timestamp('2024-02-29T23:59:59.5Z')",
            ])
            .to_string(),
    };
    E::leaf(ty, text)
}

/// Productions per type: the template and the types of its holes.
fn productions(ty: Ty) -> &'static [(&'static str, &'static [Ty])] {
    use Ty::*;
    match ty {
        Int => &[
            ("{0} + {1}", &[Int, Int]),
            ("{0} - {1}", &[Int, Int]),
            ("{0} * {1}", &[Int, Int]),
            ("{0} / {1}", &[Int, Int]),
            ("{0} % {1}", &[Int, Int]),
            ("-{0}", &[Int]),
            ("size({0})", &[Str]),
            ("size({0})", &[ListInt]),
            ("{0}.size()", &[MapStrInt]),
            ("int({0})", &[Uint]),
            ("int({0})", &[Double]),
            ("int({0})", &[Str]),
            ("{0}.indexOf({1})", &[Str, Str]),
            ("{0}.lastIndexOf({1})", &[Str, Str]),
            ("{0}[{1}]", &[ListInt, Int]),
            ("{0}[{1}]", &[MapStrInt, Str]),
            ("{0} ? {1} : {2}", &[Bool, Int, Int]),
            ("{0}.sum()", &[ListInt]),
            ("{0}.min()", &[ListInt]),
            ("{0}.max()", &[ListInt]),
            ("{0}.getHours()", &[Dur]),
            ("{0}.getMinutes()", &[Dur]),
            ("{0}.getFullYear()", &[Ts]),
            ("{0}.getDayOfWeek()", &[Ts]),
            ("{0}.getMonth()", &[Ts]),
            ("object.spec.replicas", &[]),
            ("oldObject.spec.replicas", &[]),
            ("{0}.exists_one(x, x > 1) ? 1 : 0", &[ListInt]),
            ("quantity({0}).asInteger()", &[Str]),
            ("{0}.first().orValue(0)", &[ListInt]),
        ],
        Uint => &[
            ("{0} + {1}", &[Uint, Uint]),
            ("{0} - {1}", &[Uint, Uint]),
            ("{0} * {1}", &[Uint, Uint]),
            ("{0} / {1}", &[Uint, Uint]),
            ("uint({0})", &[Int]),
            ("uint({0})", &[Double]),
        ],
        Double => &[
            ("{0} + {1}", &[Double, Double]),
            ("{0} - {1}", &[Double, Double]),
            ("{0} * {1}", &[Double, Double]),
            ("{0} / {1}", &[Double, Double]),
            ("-{0}", &[Double]),
            ("double({0})", &[Int]),
            ("double({0})", &[Uint]),
            ("double({0})", &[Str]),
            ("object.spec.ratio", &[]),
        ],
        Str => &[
            ("{0} + {1}", &[Str, Str]),
            ("{0}.lowerAscii()", &[Str]),
            ("{0}.upperAscii()", &[Str]),
            ("{0}.trim()", &[Str]),
            ("{0}.substring(1)", &[Str]),
            ("{0}.replace({1}, {2})", &[Str, Str, Str]),
            ("{0}.charAt({1})", &[Str, Int]),
            ("string({0})", &[Int]),
            ("string({0})", &[Uint]),
            ("string({0})", &[Double]),
            ("string({0})", &[Bool]),
            ("string({0})", &[Dur]),
            ("string({0})", &[Ts]),
            ("'%s/%d'.format([{0}, {1}])", &[Str, Int]),
            ("'%s'.format([{0}])", &[ListInt]),
            ("'%.2f'.format([{0}])", &[Double]),
            ("'%x'.format([{0}])", &[Int]),
            ("{0}.join('-')", &[ListStr]),
            ("{0}.find('[a-z]+')", &[Str]),
            ("strings.quote({0})", &[Str]),
            ("object.metadata.name", &[]),
            ("object.metadata.labels.app", &[]),
            ("{0} ? {1} : {2}", &[Bool, Str, Str]),
            ("url('https://example.com/' + {0}).getHost()", &[Str]),
        ],
        Bool => &[
            ("{0} < {1}", &[Int, Double]),
            ("{0} <= {1}", &[Uint, Int]),
            ("{0} > {1}", &[Double, Uint]),
            ("{0} >= {1}", &[Int, Int]),
            ("{0} == {1}", &[Int, Int]),
            ("{0} != {1}", &[Str, Str]),
            ("{0} == {1}", &[ListInt, ListInt]),
            ("{0} == {1}", &[MapStrInt, MapStrInt]),
            ("{0} < {1}", &[Str, Str]),
            ("{0} < {1}", &[Dur, Dur]),
            ("{0} < {1}", &[Ts, Ts]),
            ("{0} && {1}", &[Bool, Bool]),
            ("{0} || {1}", &[Bool, Bool]),
            ("!{0}", &[Bool]),
            ("{0}.startsWith({1})", &[Str, Str]),
            ("{0}.endsWith({1})", &[Str, Str]),
            ("{0}.contains({1})", &[Str, Str]),
            ("{0}.matches('^[a-z]+$')", &[Str]),
            ("{0} in {1}", &[Int, ListInt]),
            ("{0} in {1}", &[Str, MapStrInt]),
            ("{0}.all(x, x > {1})", &[ListInt, Int]),
            ("{0}.exists(x, x == {1})", &[ListInt, Int]),
            ("{0}.all(i, v, v >= i)", &[ListInt]),
            ("{0}.exists(k, v, v > {1})", &[MapStrInt, Int]),
            ("{0}.existsOne(i, v, v == {1})", &[ListInt, Int]),
            ("{0}.isSorted()", &[ListInt]),
            ("has(object.spec.replicas)", &[]),
            ("has(object.spec.nope)", &[]),
            ("isQuantity({0})", &[Str]),
            ("isURL({0})", &[Str]),
            ("isIP({0})", &[Str]),
            ("sets.contains({0}, {1})", &[ListInt, ListInt]),
            ("sets.intersects({0}, {1})", &[ListStr, ListStr]),
            ("object.spec.replicas > {0}", &[Double]),
            ("{0} ? {1} : {2}", &[Bool, Bool, Bool]),
        ],
        ListInt => &[
            ("[{0}, {1}]", &[Int, Int]),
            ("{0} + {1}", &[ListInt, ListInt]),
            ("{0}.map(x, x * 2)", &[ListInt]),
            ("{0}.map(x, x > 1, x + {1})", &[ListInt, Int]),
            ("{0}.filter(x, x % 2 == 0)", &[ListInt]),
            ("{0}.transformList(i, v, v + i)", &[ListInt]),
            ("{0}.transformList(k, v, v)", &[MapStrInt]),
            ("{0}.sort()", &[ListInt]),
            ("{0}.distinct()", &[ListInt]),
            ("{0}.reverse()", &[ListInt]),
            ("{0}.slice(0, 1)", &[ListInt]),
            ("lists.range(3)", &[]),
            ("{0}.map(s, size(s))", &[ListStr]),
        ],
        ListStr => &[
            ("[{0}, {1}]", &[Str, Str]),
            ("{0}.split(',')", &[Str]),
            ("{0}.map(k, k)", &[MapStrInt]),
            ("{0}.sort()", &[ListStr]),
            ("{0}.transformList(i, v, v + string(i))", &[ListStr]),
            ("object.spec.template.spec.containers.map(c, c.name)", &[]),
        ],
        MapStrInt => &[
            ("{'a': {0}, 'b': {1}}", &[Int, Int]),
            ("{0}.transformMap(k, v, v + 1)", &[MapStrInt]),
            ("{0}.transformMap(k, v, v > 1, v * 2)", &[MapStrInt]),
            ("{0}.transformMapEntry(k, v, {k + 'x': v})", &[MapStrInt]),
        ],
        Dur => &[
            ("{0} + {1}", &[Dur, Dur]),
            ("{0} - {1}", &[Dur, Dur]),
            ("{0} - {1}", &[Ts, Ts]),
            ("duration(string({0}) + 's')", &[Int]),
        ],
        Ts => &[
            ("{0} + {1}", &[Ts, Dur]),
            ("{0} - {1}", &[Ts, Dur]),
            ("timestamp({0})", &[Int]),
        ],
    }
}

fn generate(rng: &mut Rng, ty: Ty, depth: usize) -> E {
    if depth == 0 || rng.below(4) == 0 {
        return literal(rng, ty);
    }
    let (template, holes) = *rng.pick(productions(ty));
    let kids = holes
        .iter()
        .map(|&want| {
            // Now and then an operand of another type, for the compile-time
            // refusals.
            let t = if rng.below(25) == 0 {
                *rng.pick(ALL)
            } else {
                want
            };
            generate(rng, t, depth - 1)
        })
        .collect();
    E {
        ty,
        template: template.to_string(),
        kids,
    }
}

fn disagree(oracle: &mut Oracle, flotilla: &Flotilla, expr: &str) -> bool {
    !flotilla.answer(expr).agrees(&oracle.ask(expr))
}

/// Smaller variants of `e`: each sub-expression replaced by one of its
/// children of the same type, or by a literal of its type.
fn variants(e: &E, rng: &mut Rng) -> Vec<E> {
    let mut out = Vec::new();
    for k in &e.kids {
        if k.ty == e.ty {
            out.push(k.clone());
        }
    }
    if !e.kids.is_empty() {
        out.push(literal(rng, e.ty));
    }
    for (i, k) in e.kids.iter().enumerate() {
        for v in variants(k, rng) {
            let mut copy = e.clone();
            copy.kids[i] = v;
            out.push(copy);
        }
    }
    out
}

fn minimise(mut e: E, oracle: &mut Oracle, flotilla: &Flotilla, rng: &mut Rng) -> E {
    loop {
        let smaller = variants(&e, rng)
            .into_iter()
            .filter(|v| v.size() < e.size())
            .find(|v| disagree(oracle, flotilla, &v.render()));
        match smaller {
            Some(v) => e = v,
            None => return e,
        }
    }
}

#[test]
#[ignore = "a fuzzing run: FUZZ_SECONDS=N cargo test --test k8s_fuzz -- --ignored"]
fn fuzz_flotilla_against_kubernetes() {
    let Some(mut oracle) = oracle_or_skip() else {
        return;
    };
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed | 1);
    let flotilla = Flotilla::new();
    let known: Vec<&str> = KNOWN
        .lines()
        .chain(CORPUS.lines())
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    let mut found: Vec<String> = std::fs::read_to_string(REGRESSIONS)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut cases, mut agreeing, mut new) = (0usize, 0usize, Vec::new());
    while Instant::now() < deadline {
        let batch: Vec<E> = (0..200)
            .map(|_| {
                let ty = *rng.pick(ALL);
                generate(&mut rng, ty, 4)
            })
            .collect();
        let texts: Vec<String> = batch.iter().map(E::render).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let theirs = oracle.ask_many(&refs);
        for ((e, text), theirs) in batch.into_iter().zip(&texts).zip(&theirs) {
            cases += 1;
            if flotilla.answer(text).agrees(theirs) {
                agreeing += 1;
                continue;
            }
            let small = minimise(e, &mut oracle, &flotilla, &mut rng).render();
            // Asked again: an answer that depends on the order a map is
            // visited in (unspecified on both sides) is not a regression.
            if known.contains(&small.as_str())
                || found.contains(&small)
                || !disagree(&mut oracle, &flotilla, &small)
            {
                continue;
            }
            eprintln!(
                "disagreement: {small}\n    flotilla:   {}\n    kubernetes: {}",
                flotilla.answer(&small).brief(),
                oracle.ask(&small).brief()
            );
            found.push(small.clone());
            new.push(small);
        }
    }
    if !new.is_empty() {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(REGRESSIONS)
            .expect("regression file opens");
        for e in &new {
            writeln!(file, "{e}").expect("regression appended");
        }
    }
    eprintln!(
        "fuzz: seed {seed}, {seconds} s, {cases} cases, {agreeing} agreeing, {} new minimised disagreements",
        new.len()
    );
}
