//! Geo sets (`src/types/geo.rs`): members with positions, distance
//! and radius queries.

use std::ffi::c_char;

use crate::buffers::Owned;
use crate::castable::{castable, opt_ref_from_ptr, to_boxed_mut_ptr, try_ref_from_ptr};
use crate::error::Fail;
use crate::{
    array, block, cfs_error, cfs_geo_match_list, cfs_geo_pos, cfs_geo_pos_list, cfs_result,
    cfs_store, cfs_str, text, texts, OptOut, Out,
};
use cyberfly_store::{GeoUnit, RadiusOpts};

/// Distance units of the geo calls (pass as `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_geo_unit {
    M = 0,
    Km = 1,
    Mi = 2,
    Ft = 3,
}

fn geo_unit(u: u32) -> Result<GeoUnit, Fail> {
    Ok(match u {
        0 => GeoUnit::M,
        1 => GeoUnit::Km,
        2 => GeoUnit::Mi,
        3 => GeoUnit::Ft,
        v => return Err(Fail::invalid(format!("{v} is not a CFS_GEO_UNIT_* value"))),
    })
}

/// A geo member with its position (input of `cfs_store_geoadd`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_geo_member {
    pub member: cfs_str,
    pub longitude: f64,
    pub latitude: f64,
}

/// Options of a radius query; NULL means all false / 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_radius_opts {
    /// Include each match's distance (in the query's unit).
    pub with_dist: bool,
    /// Include each match's position.
    pub with_coord: bool,
    /// At most this many matches; 0 for no limit.
    pub count: usize,
    /// 1 nearest first, -1 farthest first, 0 member order.
    pub order: i32,
}

castable!(OwnershipRef: cfs_radius_opts => "opts");

fn radius_opts(p: *const cfs_radius_opts) -> RadiusOpts {
    match opt_ref_from_ptr(p) {
        None => RadiusOpts::default(),
        Some(o) => RadiusOpts {
            with_dist: o.with_dist,
            with_coord: o.with_coord,
            count: (o.count > 0).then_some(o.count),
            ascending: match o.order {
                0 => None,
                n => Some(n > 0),
            },
        },
    }
}

fn geo_matches(v: Vec<cyberfly_store::GeoMatch>) -> *mut cfs_geo_match_list {
    to_boxed_mut_ptr(cfs_geo_match_list {
        items: v
            .into_iter()
            .map(|g| (Owned::new(g.member.as_bytes()), g))
            .collect(),
    })
}

/// Add or move `count` members of the geo set at `key` (longitude in
/// [-180, 180], latitude within ±85.05112878); `*out_added` (optional) is
/// how many were new.
#[no_mangle]
pub extern "C" fn cfs_store_geoadd(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    items: *const cfs_geo_member,
    count: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let items = array(items, count, "items")?
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let m = text(it.member.data, it.member.len, &format!("items[{i}].member"))?;
                Ok((it.longitude, it.latitude, m))
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        let n = block(&s.store, s.store.geoadd(key, items))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// Positions of `count` members, in order, into a new list (free with
/// `cfs_geo_pos_list_free`); a missing member's item has `found` false.
#[no_mangle]
pub extern "C" fn cfs_store_geopos(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    members: *const cfs_str,
    count: usize,
    out_positions: *mut *mut cfs_geo_pos_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let members = texts(array(members, count, "members")?, "members")?;
        let out = Out::new(out_positions, "out_positions")?;
        let v = block(&s.store, s.store.geopos(key, &members))?;
        out.write(to_boxed_mut_ptr(cfs_geo_pos_list {
            items: v
                .into_iter()
                .map(|p| match p {
                    Some((lo, la)) => cfs_geo_pos {
                        found: true,
                        longitude: lo,
                        latitude: la,
                    },
                    None => cfs_geo_pos::default(),
                })
                .collect(),
        }));
        Ok(())
    })
}

/// Distance between two members in `unit` (a `CFS_GEO_UNIT_*`):
/// `*out_found` false when either is missing.
#[no_mangle]
pub extern "C" fn cfs_store_geodist(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    member1: *const c_char,
    member1_len: usize,
    member2: *const c_char,
    member2_len: usize,
    unit: u32,
    out_distance: *mut f64,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let m1 = text(member1, member1_len, "member1")?;
        let m2 = text(member2, member2_len, "member2")?;
        let unit = geo_unit(unit)?;
        let out_distance = Out::new(out_distance, "out_distance")?;
        let out_found = Out::new(out_found, "out_found")?;
        let d = block(&s.store, s.store.geodist(key, m1, m2, unit))?;
        out_distance.write(d.unwrap_or(0.0));
        out_found.write(d.is_some());
        Ok(())
    })
}

/// Members within `radius` (in `unit`, a `CFS_GEO_UNIT_*`) of (longitude,
/// latitude) into a new list (free with `cfs_geo_match_list_free`); `opts`
/// may be NULL.
#[no_mangle]
pub extern "C" fn cfs_store_georadius(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    longitude: f64,
    latitude: f64,
    radius: f64,
    unit: u32,
    opts: *const cfs_radius_opts,
    out_matches: *mut *mut cfs_geo_match_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let unit = geo_unit(unit)?;
        let opts = radius_opts(opts);
        let out = Out::new(out_matches, "out_matches")?;
        let v = block(
            &s.store,
            s.store
                .georadius(key, longitude, latitude, radius, unit, opts),
        )?;
        out.write(geo_matches(v));
        Ok(())
    })
}

/// Members within `radius` of the member `member` (empty when it is
/// missing); as `cfs_store_georadius` otherwise.
#[no_mangle]
pub extern "C" fn cfs_store_georadiusbymember(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    member: *const c_char,
    member_len: usize,
    radius: f64,
    unit: u32,
    opts: *const cfs_radius_opts,
    out_matches: *mut *mut cfs_geo_match_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let member = text(member, member_len, "member")?;
        let unit = geo_unit(unit)?;
        let opts = radius_opts(opts);
        let out = Out::new(out_matches, "out_matches")?;
        let v = block(
            &s.store,
            s.store.georadiusbymember(key, member, radius, unit, opts),
        )?;
        out.write(geo_matches(v));
        Ok(())
    })
}
