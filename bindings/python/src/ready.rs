//! `Ready`: an awaitable that is already complete — what a cache hit
//! returns. Awaiting it costs no thread hop and no event-loop round trip.
//!
//! The type is built directly on the stable C API (`PyType_FromSpec`)
//! rather than with `#[pyclass]`, for two slots pyo3 does not offer:
//!
//! - `am_send` (Python 3.10+): `await` asks the object for its result with
//!   `PyIter_Send` and gets it back directly (`PYGEN_RETURN`), with no
//!   `StopIteration` raised and caught;
//! - `tp_iternext` without an error object: on 3.9 (or through `next()`)
//!   the value travels as `PyErr_SetObject(StopIteration, value)`, which the
//!   interpreter unpacks without instantiating the exception.
//!
//! `__await__` and `__iter__` return the object itself; `send`, `throw` and
//! `close` make it a complete generator-like iterator for `yield from`.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

#[repr(C)]
struct ReadyObject {
    ob_base: ffi::PyObject,
    value: *mut ffi::PyObject,
}

static TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(null_mut());

const PYGEN_RETURN: c_int = 0;

#[inline]
unsafe fn value_of(o: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe { (*(o as *mut ReadyObject)).value }
}

/// Raise `StopIteration(value)` the cheap way: a non-tuple value is handed
/// over as is (no exception instance is made on 3.9–3.11); a tuple must be
/// wrapped or it would be taken as the exception's arguments.
unsafe fn set_stop(v: *mut ffi::PyObject) {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        if ffi::PyTuple_Check(v) != 0 {
            let t = ffi::PyTuple_Pack(1, v);
            if !t.is_null() {
                ffi::PyErr_SetObject(ffi::PyExc_StopIteration, t);
                ffi::Py_DECREF(t);
            }
        } else {
            ffi::PyErr_SetObject(ffi::PyExc_StopIteration, v);
        }
    }
}

unsafe extern "C" fn ready_dealloc(o: *mut ffi::PyObject) {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        let r = o as *mut ReadyObject;
        let v = (*r).value;
        (*r).value = null_mut();
        if !v.is_null() {
            ffi::Py_DECREF(v);
        }
        let tp = ffi::Py_TYPE(o);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        let free: ffi::freefunc = std::mem::transmute::<*mut c_void, ffi::freefunc>(free);
        free(o as *mut c_void);
        ffi::Py_DECREF(tp as *mut ffi::PyObject);
    }
}

unsafe extern "C" fn ready_self(o: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        ffi::Py_INCREF(o);
        o
    }
}

unsafe extern "C" fn ready_next(o: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        set_stop(value_of(o));
        null_mut()
    }
}

unsafe extern "C" fn ready_am_send(
    o: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> c_int {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        let v = value_of(o);
        ffi::Py_INCREF(v);
        *result = v;
        PYGEN_RETURN
    }
}

unsafe extern "C" fn ready_send(
    o: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        set_stop(value_of(o));
        null_mut()
    }
}

unsafe extern "C" fn ready_throw(
    _o: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        let n = ffi::PyTuple_Size(args);
        if n < 1 {
            ffi::PyErr_SetString(
                ffi::PyExc_TypeError,
                c"throw expected at least 1 argument".as_ptr(),
            );
            return null_mut();
        }
        let typ = ffi::PyTuple_GetItem(args, 0);
        let val = if n > 1 {
            ffi::PyTuple_GetItem(args, 1)
        } else {
            null_mut()
        };
        if !val.is_null() && val != ffi::Py_None() {
            if ffi::PyExceptionInstance_Check(val) != 0 {
                ffi::PyErr_SetObject(ffi::Py_TYPE(val) as *mut ffi::PyObject, val);
            } else {
                ffi::PyErr_SetObject(typ, val);
            }
        } else if ffi::PyExceptionInstance_Check(typ) != 0 {
            ffi::PyErr_SetObject(ffi::Py_TYPE(typ) as *mut ffi::PyObject, typ);
        } else if ffi::PyExceptionClass_Check(typ) != 0 {
            ffi::PyErr_SetNone(typ);
        } else {
            ffi::PyErr_SetString(
                ffi::PyExc_TypeError,
                c"exceptions must be classes or instances deriving from BaseException".as_ptr(),
            );
        }
        null_mut()
    }
}

unsafe extern "C" fn ready_close(
    _o: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_INCREF(none);
        none
    }
}

unsafe extern "C" fn ready_value(o: *mut ffi::PyObject, _c: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        let v = value_of(o);
        ffi::Py_INCREF(v);
        v
    }
}

unsafe extern "C" fn ready_repr(o: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe { ffi::PyUnicode_FromFormat(c"<Ready %R>".as_ptr(), value_of(o)) }
}

unsafe extern "C" fn ready_new(
    _t: *mut ffi::PyTypeObject,
    _a: *mut ffi::PyObject,
    _k: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        ffi::PyErr_SetString(
            ffi::PyExc_TypeError,
            c"Ready objects are made by the store (a completed read)".as_ptr(),
        );
        null_mut()
    }
}

const DOC: &CStr = c"An awaitable that is already complete: what a read answered by the cache returns.\n\nAwaiting it (once or more) gives `value` without a thread hop or an event-loop round trip.";

fn slot(slot: c_int, f: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc: f }
}

/// Create the type (once per process) and add it to the module as `Ready`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let existing = TYPE.load(Ordering::Acquire);
    if !existing.is_null() {
        // SAFETY: the type object is live (registered once per interpreter, never freed) and the GIL is held.
        let t = unsafe { Bound::from_borrowed_ptr(py, existing as *mut ffi::PyObject) };
        return m.add("Ready", t);
    }
    // `am_send` is a type slot from 3.10 on (the wheel is abi3 from 3.9).
    let vi = py.import("sys")?.getattr("version_info")?;
    let version: (u8, u8) = (vi.get_item(0)?.extract()?, vi.get_item(1)?.extract()?);
    let py310 = version >= (3, 10);
    if py310 {
        resolve_as_utf8(py);
    }

    let methods: &'static mut [ffi::PyMethodDef] = Box::leak(Box::new([
        ffi::PyMethodDef {
            ml_name: c"send".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: ready_send,
            },
            ml_flags: ffi::METH_O,
            ml_doc: c"send($self, value, /)\n--\n\nComplete: raises StopIteration(value of the awaitable).".as_ptr(),
        },
        ffi::PyMethodDef {
            ml_name: c"throw".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: ready_throw,
            },
            ml_flags: ffi::METH_VARARGS,
            ml_doc: c"throw($self, typ, val=None, tb=None, /)\n--\n\nRaise the given exception.".as_ptr(),
        },
        ffi::PyMethodDef {
            ml_name: c"close".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: ready_close,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"close($self, /)\n--\n\nNothing to release.".as_ptr(),
        },
        ffi::PyMethodDef::zeroed(),
    ]));
    let getset: &'static mut [ffi::PyGetSetDef] = Box::leak(Box::new([
        ffi::PyGetSetDef {
            name: c"value".as_ptr(),
            get: Some(ready_value),
            set: None,
            doc: c"The value the awaitable completes with.".as_ptr(),
            closure: null_mut(),
        },
        ffi::PyGetSetDef::default(),
    ]));
    let mut slots = vec![
        slot(ffi::Py_tp_dealloc, ready_dealloc as *mut c_void),
        slot(ffi::Py_am_await, ready_self as *mut c_void),
        slot(ffi::Py_tp_iter, ready_self as *mut c_void),
        slot(ffi::Py_tp_iternext, ready_next as *mut c_void),
        slot(ffi::Py_tp_repr, ready_repr as *mut c_void),
        slot(ffi::Py_tp_new, ready_new as *mut c_void),
        slot(ffi::Py_tp_doc, DOC.as_ptr() as *mut c_void),
        slot(ffi::Py_tp_methods, methods.as_mut_ptr() as *mut c_void),
        slot(ffi::Py_tp_getset, getset.as_mut_ptr() as *mut c_void),
    ];
    if py310 {
        slots.push(slot(ffi::Py_am_send, ready_am_send as *mut c_void));
    }
    slots.push(slot(0, null_mut()));
    let slots: &'static mut [ffi::PyType_Slot] = Box::leak(slots.into_boxed_slice());
    let spec: &'static mut ffi::PyType_Spec = Box::leak(Box::new(ffi::PyType_Spec {
        name: c"cyberfly_store._native.Ready".as_ptr() as *const c_char,
        basicsize: size_of::<ReadyObject>() as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    }));
    // SAFETY: the type object is live (registered once per interpreter, never freed) and the GIL is held.
    let t = unsafe { ffi::PyType_FromSpec(spec) };
    if t.is_null() {
        return Err(PyErr::fetch(py));
    }
    // The type lives as long as the process (one strong reference kept).
    TYPE.store(t as *mut ffi::PyTypeObject, Ordering::Release);
    // SAFETY: the type object is live (registered once per interpreter, never freed) and the GIL is held.
    let t = unsafe { Bound::from_borrowed_ptr(py, t) };
    m.add("Ready", t)
}

/// A completed awaitable holding `value`.
#[inline]
pub fn wrap(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    let tp = TYPE.load(Ordering::Acquire);
    debug_assert!(!tp.is_null(), "Ready type not registered");
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    unsafe {
        let o = ffi::PyType_GenericAlloc(tp, 0);
        if o.is_null() {
            return Err(PyErr::fetch(py));
        }
        (*(o as *mut ReadyObject)).value = value.into_ptr();
        Ok(Bound::from_owned_ptr(py, o))
    }
}

/// `PyUnicode_AsUTF8AndSize`, when the running interpreter has it in its
/// stable ABI (3.10+); null otherwise.
static AS_UTF8: AtomicPtr<c_void> = AtomicPtr::new(null_mut());

type AsUtf8AndSize =
    unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::Py_ssize_t) -> *const c_char;

/// Find `PyUnicode_AsUTF8AndSize` at run time on 3.10 and newer, where it is
/// part of the stable ABI. The wheel is abi3 from 3.9, whose limited API does
/// not have it, so the module must not import the symbol: a 3.9 interpreter
/// on a platform that resolves the stable ABI strictly (Windows' python3.dll)
/// would refuse to load it. ctypes looks the function up in the running
/// interpreter; without ctypes, keys are copied as on 3.9.
fn resolve_as_utf8(py: Python<'_>) {
    let found = (|| -> PyResult<usize> {
        let ctypes = py.import("ctypes")?;
        let f = ctypes
            .getattr("pythonapi")?
            .getattr("PyUnicode_AsUTF8AndSize")?;
        ctypes
            .getattr("cast")?
            .call1((f, ctypes.getattr("c_void_p")?))?
            .getattr("value")?
            .extract()
    })();
    if let Ok(addr) = found {
        AS_UTF8.store(addr as *mut c_void, Ordering::Release);
    }
}

/// The UTF-8 text of a `str`. On 3.10+ it is borrowed from the object
/// (CPython keeps the encoding with the string; for ASCII it is the string's
/// own buffer), so a key costs no allocation; on 3.9 it is a copy, through
/// `PyUnicode_AsUTF8String` (3.9's limited API).
#[inline]
pub fn borrow_str<'a>(
    s: &'a Bound<'_, pyo3::types::PyString>,
) -> PyResult<std::borrow::Cow<'a, str>> {
    let f = AS_UTF8.load(Ordering::Relaxed);
    if f.is_null() {
        return s
            .to_cow()
            .map_err(|cause| super::error::invalid(format!("text is not valid UTF-8: {cause}")));
    }
    // SAFETY: `f` is CPython's PyUnicode_AsUTF8AndSize (resolve_as_utf8).
    let f = unsafe { std::mem::transmute::<*mut c_void, AsUtf8AndSize>(f) };
    let mut n: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str object and the GIL is held.
    let p = unsafe { f(s.as_ptr(), &mut n) };
    if p.is_null() {
        // A `str` with a lone surrogate has no UTF-8 form: the bad-input
        // matrix's "invalid UTF-8" row, typed as in the C ABI.
        let cause = PyErr::fetch(s.py());
        return Err(super::error::invalid(format!(
            "text is not valid UTF-8: {cause}"
        )));
    }
    // SAFETY: CPython returns valid UTF-8 of length n that lives as long as
    // the string object, which `s` keeps alive for 'a.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, n as usize) };
    // SAFETY: called by CPython through the type's slots (or by this module) with `o` a live Ready object and the GIL held.
    Ok(std::borrow::Cow::Borrowed(unsafe {
        std::str::from_utf8_unchecked(bytes)
    }))
}
