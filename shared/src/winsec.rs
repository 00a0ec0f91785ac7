//! Windows only: who runs a process, whether it still runs, and the named
//! pipe's access list. Named pipes share one namespace for every user, so a
//! bridge's pipe has an unguessable name, an ACL for its own user only (as
//! Windows' ssh-agent pipe has one), and each side checks that the process
//! at the other end runs as the same user.

use std::io;
use std::ptr::{null, null_mut};

use interprocess::os::windows::security_descriptor::SecurityDescriptor;
use widestring::{U16CStr, U16CString};
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, GetLastError, HANDLE, INVALID_HANDLE_VALUE, LocalFree, STILL_ACTIVE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW, GetSecurityInfo,
    SDDL_REVISION_1, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{CreateFileW, OPEN_EXISTING, READ_CONTROL};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetExitCodeProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by us and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// The user a process runs as, as a string SID ("S-1-5-21-…").
fn token_user_sid(process: HANDLE) -> io::Result<String> {
    // SAFETY: plain Win32 calls with buffers sized as the API reports; every
    // handle and allocation is released on every path.
    unsafe {
        let mut token = null_mut();
        if OpenProcessToken(process, TOKEN_QUERY, &mut token) == 0 {
            return Err(io::Error::last_os_error());
        }
        let token = Handle(token);
        let mut len = 0u32;
        GetTokenInformation(token.0, TokenUser, null_mut(), 0, &mut len);
        if len == 0 {
            return Err(io::Error::last_os_error());
        }
        // u64s: TOKEN_USER holds pointers and must be aligned for them.
        let mut buf = vec![0u64; (len as usize).div_ceil(8)];
        if GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) == 0 {
            return Err(io::Error::last_os_error());
        }
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let mut text = null_mut();
        if ConvertSidToStringSidW(user.User.Sid, &mut text) == 0 {
            return Err(io::Error::last_os_error());
        }
        let sid = U16CStr::from_ptr_str(text).to_string_lossy();
        LocalFree(text.cast());
        Ok(sid)
    }
}

/// The user this program runs as.
pub fn current_user_sid() -> io::Result<String> {
    // SAFETY: the pseudo-handle of the current process needs no closing.
    token_user_sid(unsafe { GetCurrentProcess() })
}

/// The user process `pid` runs as.
pub fn process_user_sid(pid: u32) -> io::Result<String> {
    // SAFETY: OpenProcess returns null or a handle we own.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    let h = Handle(h);
    token_user_sid(h.0)
}

/// Whether process `pid` is running (one we may not open counts as running:
/// it exists, it is just not ours).
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: OpenProcess returns null or a handle we own; the exit code is
    // written into a local.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if h.is_null() {
            return GetLastError() == ERROR_ACCESS_DENIED;
        }
        let h = Handle(h);
        let mut code = 0u32;
        GetExitCodeProcess(h.0, &mut code) != 0 && code == STILL_ACTIVE as u32
    }
}

/// Refuses the process at the other end of a pipe unless it runs as us.
pub fn check_same_user(peer_pid: Option<u32>, role: &str) -> io::Result<()> {
    let denied = |msg: String| io::Error::new(io::ErrorKind::PermissionDenied, msg);
    let pid = peer_pid.ok_or_else(|| denied(format!("cannot tell which process the {role} is")))?;
    let me = current_user_sid()?;
    let them = process_user_sid(pid)
        .map_err(|e| denied(format!("cannot tell who runs the {role} (pid {pid}): {e}")))?;
    if them != me {
        return Err(denied(format!("the {role} (pid {pid}) runs as {them}, not as us ({me}): refusing it")));
    }
    Ok(())
}

/// The pipe's security descriptor: full access for our own user, nobody
/// else (not even Administrators), no inherited entries.
pub fn pipe_security() -> io::Result<SecurityDescriptor> {
    let sddl = format!("D:P(A;;GA;;;{})", current_user_sid()?);
    let wide = U16CString::from_str(&sddl).map_err(io::Error::other)?;
    SecurityDescriptor::deserialize(&wide)
}

/// The access list of the named pipe `name` as SDDL ("D:P(A;;FA;;;S-1-5-…)"),
/// read back from the system: what `doctor` shows of a bridge's pipe.
pub fn pipe_acl(name: &str) -> io::Result<String> {
    let wide = U16CString::from_str(name).map_err(io::Error::other)?;
    // SAFETY: the handle is closed once by `Handle`; the descriptor and the
    // string are allocated by the system and freed with LocalFree once.
    unsafe {
        // Opened for its security alone (a client instance the bridge sees
        // come and go), then asked for the access list.
        let h = CreateFileW(wide.as_ptr(), READ_CONTROL, 0, null(), OPEN_EXISTING, 0, null_mut());
        if h == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        let h = Handle(h);
        let mut sd = null_mut();
        let mut dacl = null_mut();
        let rc = GetSecurityInfo(
            h.0,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            &mut dacl,
            null_mut(),
            &mut sd,
        );
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        if sd.is_null() {
            return Err(io::Error::other("no security descriptor"));
        }
        let mut text = null_mut();
        let ok = ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            null_mut(),
        );
        LocalFree(sd);
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let sddl = U16CStr::from_ptr_str(text).to_string_lossy();
        LocalFree(text.cast());
        Ok(sddl)
    }
}

/// Whether an SDDL access list allows `sid` and nobody else: every entry
/// an "allow" entry for that SID, and at least one.
pub fn admits_only(sddl: &str, sid: &str) -> bool {
    let entries: Vec<&str> = sddl.split('(').skip(1).map(|e| e.trim_end_matches(')')).collect();
    !entries.is_empty() && entries.iter().all(|e| e.starts_with("A;") && e.rsplit(';').next() == Some(sid))
}
