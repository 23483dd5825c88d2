//! Kubernetes IP and CIDR libraries: `ip`, `isIP`, `ip.isCanonical`,
//! `cidr`, `isCIDR`, and their members (`family`, `isLoopback`, …,
//! `containsIP`, `containsCIDR`, `masked`, `prefixLength`), plus
//! `string(ip)` / `string(cidr)`.
//!
//! Parsing uses `std::net`, which like Kubernetes rejects zones and
//! leading zeros in IPv4; IPv4-mapped IPv6 addresses are refused as
//! Kubernetes does.

use std::net::IpAddr;
use std::sync::Arc;

use cel::common::types::{STRING_TYPE, Type};
use cel::objects::Opaque;
use cel::{ExecutionError, Value};

use super::{Registrar, fail, opaque_arg, str_arg, value_fn};

const IP_TYPE: &str = "net.IP";
const CIDR_TYPE: &str = "net.CIDR";

/// An IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip(IpAddr);

/// A network prefix as written (address and length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Opaque for Ip {
    fn runtime_type_name(&self) -> &str {
        IP_TYPE
    }
}

impl Opaque for Cidr {
    fn runtime_type_name(&self) -> &str {
        CIDR_TYPE
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    let addr: IpAddr = s
        .parse()
        .map_err(|_| format!("IP Address {s:?} parse error during conversion from string"))?;
    if let IpAddr::V6(v6) = addr
        && v6.to_ipv4_mapped().is_some()
    {
        return Err(format!("IPv4-mapped IPv6 address {s:?} is not allowed"));
    }
    Ok(addr)
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let bad = || format!("network address {s:?} parse error during conversion from string");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr = parse_ip(addr).map_err(|_| bad())?;
    if len.starts_with('+') || (len.len() > 1 && len.starts_with('0')) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(Cidr { addr, len })
}

fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    let (v, width) = bits(addr);
    let m = if len == 0 {
        0
    } else {
        (!0u128) << (width - len)
    };
    let masked = v
        & m
        & if width == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        };
    match addr {
        IpAddr::V4(_) => IpAddr::V4((masked as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(masked.into()),
    }
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == mask(self.addr, self.len)
    }
}

fn is_link_local_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn is_link_local_multicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    }
}

/// Go's `net.IP.IsGlobalUnicast`: private ranges count as global unicast.
fn is_global_unicast(a: IpAddr) -> bool {
    let broadcast = matches!(a, IpAddr::V4(v4) if v4.is_broadcast());
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || is_link_local_unicast(a)
        || broadcast)
}

fn ip() -> Type {
    Type::new_opaque_type(IP_TYPE)
}

fn cidr() -> Type {
    Type::new_opaque_type(CIDR_TYPE)
}

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("ip", vec![STRING_TYPE], ip_fn);
    r.global("isIP", vec![STRING_TYPE], is_ip_fn);
    r.global("ip.isCanonical", vec![STRING_TYPE], is_canonical_fn);
    r.global("string", vec![ip()], ip_string_fn);
    r.member("family", ip(), vec![], family_fn);
    r.member("isUnspecified", ip(), vec![], |a| {
        adapt_pred(a, |a| a.is_unspecified())
    });
    r.member("isLoopback", ip(), vec![], |a| {
        adapt_pred(a, |a| a.is_loopback())
    });
    r.member("isLinkLocalMulticast", ip(), vec![], |a| {
        adapt_pred(a, is_link_local_multicast)
    });
    r.member("isLinkLocalUnicast", ip(), vec![], |a| {
        adapt_pred(a, is_link_local_unicast)
    });
    r.member("isGlobalUnicast", ip(), vec![], |a| {
        adapt_pred(a, is_global_unicast)
    });
    r.global("cidr", vec![STRING_TYPE], cidr_fn);
    r.global("isCIDR", vec![STRING_TYPE], is_cidr_fn);
    r.global("string", vec![cidr()], cidr_string_fn);
    r.member("containsIP", cidr(), vec![ip()], contains_ip_fn);
    r.member("containsIP", cidr(), vec![STRING_TYPE], contains_ip_fn);
    r.member("containsCIDR", cidr(), vec![cidr()], contains_cidr_fn);
    r.member("containsCIDR", cidr(), vec![STRING_TYPE], contains_cidr_fn);
    r.member("ip", cidr(), vec![], cidr_ip_fn);
    r.member("masked", cidr(), vec![], masked_fn);
    r.member("prefixLength", cidr(), vec![], prefix_length_fn);
}

/// Runs a predicate on the IP receiver. Overloads are plain `fn`s, so a
/// non-capturing closure per predicate coerces to one.
fn adapt_pred<'b, 'v>(
    args: Vec<cel::common::value::CowVal<'b, 'v>>,
    pred: fn(IpAddr) -> bool,
) -> Result<cel::common::value::CowVal<'b, 'v>, ExecutionError> {
    let ip = cel::Value::try_from(
        args.first()
            .map(|a| a.as_ref())
            .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?,
    )?;
    let ip = opaque_arg::<Ip>("ip", std::slice::from_ref(&ip), 0)?;
    let out: Box<dyn cel::common::value::Val> = Value::Bool(pred(ip.0)).try_into()?;
    Ok(cel::common::value::CowVal::Owned(out))
}

fn string(s: String) -> Value {
    Value::String(Arc::new(s))
}

value_fn!(ip_fn, |a: &[Value]| {
    parse_ip(str_arg("ip", a, 0)?)
        .map(|ip| Value::Opaque(Arc::new(Ip(ip))))
        .map_err(|e| fail("ip", e))
});
value_fn!(is_ip_fn, |a: &[Value]| Ok(Value::Bool(
    parse_ip(str_arg("isIP", a, 0)?).is_ok()
)));
value_fn!(is_canonical_fn, |a: &[Value]| {
    let s = str_arg("ip.isCanonical", a, 0)?;
    let ip = parse_ip(s).map_err(|e| fail("ip.isCanonical", e))?;
    Ok(Value::Bool(ip.to_string() == s))
});
value_fn!(ip_string_fn, |a: &[Value]| Ok(string(
    opaque_arg::<Ip>("string", a, 0)?.0.to_string()
)));
value_fn!(family_fn, |a: &[Value]| {
    Ok(Value::Int(
        if opaque_arg::<Ip>("family", a, 0)?.0.is_ipv4() {
            4
        } else {
            6
        },
    ))
});
value_fn!(cidr_fn, |a: &[Value]| {
    parse_cidr(str_arg("cidr", a, 0)?)
        .map(|c| Value::Opaque(Arc::new(c)))
        .map_err(|e| fail("cidr", e))
});
value_fn!(is_cidr_fn, |a: &[Value]| Ok(Value::Bool(
    parse_cidr(str_arg("isCIDR", a, 0)?).is_ok()
)));
value_fn!(cidr_string_fn, |a: &[Value]| {
    let c = opaque_arg::<Cidr>("string", a, 0)?;
    Ok(string(format!("{}/{}", c.addr, c.len)))
});
value_fn!(contains_ip_fn, |a: &[Value]| {
    let c = opaque_arg::<Cidr>("containsIP", a, 0)?;
    let ip = match a.get(1) {
        Some(Value::String(s)) => parse_ip(s).map_err(|e| fail("containsIP", e))?,
        _ => opaque_arg::<Ip>("containsIP", a, 1)?.0,
    };
    Ok(Value::Bool(c.contains(ip)))
});
value_fn!(contains_cidr_fn, |a: &[Value]| {
    let c = opaque_arg::<Cidr>("containsCIDR", a, 0)?;
    let other = match a.get(1) {
        Some(Value::String(s)) => parse_cidr(s).map_err(|e| fail("containsCIDR", e))?,
        _ => *opaque_arg::<Cidr>("containsCIDR", a, 1)?,
    };
    Ok(Value::Bool(other.len >= c.len && c.contains(other.addr)))
});
value_fn!(cidr_ip_fn, |a: &[Value]| Ok(Value::Opaque(Arc::new(Ip(
    opaque_arg::<Cidr>("ip", a, 0)?.addr
)))));
value_fn!(masked_fn, |a: &[Value]| {
    let c = opaque_arg::<Cidr>("masked", a, 0)?;
    Ok(Value::Opaque(Arc::new(Cidr {
        addr: mask(c.addr, c.len),
        len: c.len,
    })))
});
value_fn!(prefix_length_fn, |a: &[Value]| Ok(Value::Int(
    opaque_arg::<Cidr>("prefixLength", a, 0)?.len as i64
)));
