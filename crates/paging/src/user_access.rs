//! Kernel access to user memory without `unsafe` in the kernel: checked copies in and out, a
//! loader write that ignores permissions, `populate` and translation for DMA-like use.
//!
//! Every helper walks the range page by page: the page's area must exist (and, for the checked
//! helpers, carry `USER` and the access's flag), a lazy page is populated as a fault would
//! populate it, and the bytes are copied through the kernel's view of the frame
//! ([`PagingHandler::phys_to_virt`]), never through the user mapping, so the CPU's SUM / PAN /
//! SMAP state does not matter and a bad pointer is a typed error, never a fault in the kernel.
//!
//! User memory may change under the copy (user threads on other CPUs), so it is read and
//! written only through relaxed 8-byte atomic accesses to aligned words (a compare-and-swap for
//! a partial word), never through a reference to plain bytes: a concurrent user write makes the
//! copied bytes unspecified, never undefined behaviour.

use core::sync::atomic::{AtomicU64, Ordering};

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{Access, PagingArch};

use crate::AddressSpace;
use crate::backend::AreaBackend;
use crate::fault::FaultError;

/// How a user-memory helper checks the areas it touches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// As a user-mode access would be checked: the area is `USER` and allows the access.
    User(Access),
    /// Only that an area exists, for a write whatever the permissions (the loader): a page
    /// shared copy-on-write gets its own frame first.
    Load,
    /// Only that an area exists, no access (`populate`).
    AreaOnly,
}

impl<H: PagingHandler, A: PagingArch, B: AreaBackend<H, A>> AddressSpace<H, A, B> {
    /// Copies `buffer.len()` bytes of user memory at `vaddr` into `buffer` (`copy_from_user`).
    /// Lazy pages are populated (zeroed) as a user read would populate them.
    ///
    /// # Errors
    ///
    /// [`FaultError::NoArea`] if a byte lies outside every area (or the range overflows),
    /// [`FaultError::KernelArea`] if it lies in a non-`USER` area, [`FaultError::AccessDenied`]
    /// if the area is not readable or is device / uncached memory, [`FaultError::NoMemory`] if a lazy page could not get a
    /// frame. Bytes before the failing page may already be copied; the page table and the
    /// areas agree in every case. [`FaultError::errno`] gives the system call's answer
    /// (`EFAULT`, or `ENOMEM`).
    pub fn read_user(&mut self, vaddr: VirtAddr, buffer: &mut [u8]) -> Result<(), FaultError> {
        self.for_each_user_page(
            vaddr,
            buffer.len(),
            Check::User(Access::Read),
            |frame, done| {
                copy_from_frame(frame, &mut buffer[done..done + frame.len]);
            },
        )
    }

    /// Copies `data` into user memory at `vaddr` (`copy_to_user`), populating lazy pages.
    ///
    /// # Errors
    ///
    /// As [`Self::read_user`], with [`FaultError::AccessDenied`] for a non-writable area.
    pub fn write_user(&mut self, vaddr: VirtAddr, data: &[u8]) -> Result<(), FaultError> {
        self.for_each_user_page(
            vaddr,
            data.len(),
            Check::User(Access::Write),
            |frame, done| {
                copy_to_frame(frame, &data[done..done + frame.len]);
            },
        )
    }

    /// Writes `data` at `vaddr` whatever the areas' permissions (the loader filling a program's
    /// read-only or executable segments before the program runs). The bytes must still lie in
    /// areas; lazy pages are populated. Executable areas get their instruction caches
    /// synchronized for the written bytes.
    ///
    /// # Errors
    ///
    /// [`FaultError::NoArea`], [`FaultError::NoMemory`] and [`FaultError::NotPopulatable`] (a
    /// Linear area's page that is not mapped).
    pub fn load(&mut self, vaddr: VirtAddr, data: &[u8]) -> Result<(), FaultError> {
        self.for_each_user_page(vaddr, data.len(), Check::Load, |frame, done| {
            copy_to_frame(frame, &data[done..done + frame.len]);
            if frame.flags.contains(MappingFlags::EXECUTE) {
                vmlayer_arch::cache::sync_instruction_cache::<A>(frame.kernel_view, frame.len);
            }
        })
    }

    /// Populates every page of `[vaddr, vaddr + size)`: lazy pages get their zeroed frames now
    /// (`MAP_POPULATE`, `mlock`), whatever the areas' permissions (PROT_NONE pages too, which
    /// keep their frames inaccessible).
    ///
    /// # Errors
    ///
    /// [`FaultError::NoArea`] if the range is not wholly covered by areas (nothing is
    /// populated then); [`FaultError::NoMemory`] (the pages populated so far stay).
    pub fn populate(&mut self, vaddr: VirtAddr, size: usize) -> Result<(), FaultError> {
        self.check_covered(vaddr, size)?;
        self.for_each_user_page(vaddr, size, Check::AreaOnly, |_, _| {})
    }

    /// The physical address behind the user address `vaddr` for an `access` (the area must be
    /// `USER` and allow it), populating a lazy page: what a driver programs into a device. The
    /// frame stays valid while the area maps it; unmapping or protecting the page ends that.
    ///
    /// # Errors
    ///
    /// As [`Self::read_user`] for one byte.
    pub fn translate_user(
        &mut self,
        vaddr: VirtAddr,
        access: Access,
    ) -> Result<PhysAddr, FaultError> {
        let mut paddr = PhysAddr::from(0);
        self.for_each_user_page(vaddr, 1, Check::User(access), |frame, _| {
            paddr = frame.paddr
        })?;
        Ok(paddr)
    }

    /// Fails with [`FaultError::NoArea`] unless areas cover every byte of the range.
    fn check_covered(&self, vaddr: VirtAddr, size: usize) -> Result<(), FaultError> {
        let start = vaddr.as_usize();
        let end = start.checked_add(size).ok_or(FaultError::NoArea)?;
        let mut next = start;
        while next < end {
            let area = self
                .find_area(VirtAddr::from(next))
                .ok_or(FaultError::NoArea)?;
            next = area.end().as_usize();
        }
        Ok(())
    }

    /// Calls `copy(frame, done)` for each page piece of `[vaddr, vaddr + len)` in order, `done`
    /// being the bytes before it, after checking and populating its page.
    fn for_each_user_page(
        &mut self,
        vaddr: VirtAddr,
        len: usize,
        check: Check,
        mut copy: impl FnMut(FramePiece, usize),
    ) -> Result<(), FaultError> {
        let start = vaddr.as_usize();
        let end = start.checked_add(len).ok_or(FaultError::NoArea)?;
        let mut address = start;
        while address < end {
            let page = address & !0xfff;
            let piece_end = end.min(page.saturating_add(0x1000));
            let (frame, flags) = self.user_frame(page, check)?;
            let offset = address - page;
            copy(
                FramePiece {
                    kernel_view: H::phys_to_virt(frame) + offset,
                    paddr: frame + offset,
                    len: piece_end - address,
                    flags,
                },
                address - start,
            );
            address = piece_end;
        }
        Ok(())
    }

    /// The frame behind `page` after checking its area and populating it if lazy, with the
    /// area's flags.
    fn user_frame(
        &mut self,
        page: usize,
        check: Check,
    ) -> Result<(PhysAddr, MappingFlags), FaultError> {
        let area = self
            .find_area(VirtAddr::from(page))
            .ok_or(FaultError::NoArea)?;
        let flags = area.flags();
        // Device memory is not reached through the kernel's view of RAM, and must not see
        // 8-byte compare-and-swaps.
        if flags.intersects(MappingFlags::DEVICE | MappingFlags::UNCACHED) {
            return Err(FaultError::AccessDenied);
        }
        if let Check::User(access) = check {
            if !flags.contains(MappingFlags::USER) {
                return Err(FaultError::KernelArea);
            }
            if !flags.contains(access.required_flag()) {
                return Err(FaultError::AccessDenied);
            }
        }
        if let Some(translation) = self.page_table.query(VirtAddr::from(page)) {
            let copy_on_write = match check {
                Check::User(access) if !translation.flags.contains(access.required_flag()) => {
                    if access != Access::Write || translation.is_prot_none() {
                        return Err(FaultError::AccessDenied);
                    }
                    true
                }
                Check::Load => self.page_table.is_shared_page(VirtAddr::from(page)),
                _ => false,
            };
            if !copy_on_write {
                return Ok((translation.paddr, flags));
            }
            // A write into a page shared copy-on-write (after a fork) must not reach the
            // other sharers: the page gets its own frame first, as a write fault would.
            self.last_spurious.clear();
            let area = self
                .areas
                .find(VirtAddr::from(page))
                .ok_or(FaultError::NoArea)?;
            // The backend decides: a private (copy-on-write) page gets its own frame; a page
            // shared by design (shared memory, a linear mapping) is refused for a user write
            // and written in place by the loader.
            match area
                .backend()
                .write_fault(area, VirtAddr::from(page), &mut self.page_table)
            {
                Ok(_) => {}
                Err(FaultError::AccessDenied) if check == Check::Load => {
                    return Ok((translation.paddr, flags));
                }
                Err(error) => return Err(error),
            }
            let translation = self
                .page_table
                .query(VirtAddr::from(page))
                .ok_or(FaultError::NotPopulatable)?;
            return Ok((translation.paddr, flags));
        }
        let area = self
            .areas
            .find(VirtAddr::from(page))
            .ok_or(FaultError::NoArea)?;
        self.last_spurious.clear();
        area.backend()
            .populate(area, VirtAddr::from(page), &mut self.page_table)?;
        let translation = self
            .page_table
            .query(VirtAddr::from(page))
            .ok_or(FaultError::NotPopulatable)?;
        Ok((translation.paddr, flags))
    }
}

/// One page's part of a user range.
#[derive(Clone, Copy)]
struct FramePiece {
    /// Where the kernel reaches the first byte.
    kernel_view: VirtAddr,
    /// The physical address of the first byte.
    paddr: PhysAddr,
    /// Bytes in this piece (up to the end of the page).
    len: usize,
    /// The area's flags.
    flags: MappingFlags,
}

/// The aligned 8-byte word of user memory at `address` (8-aligned, inside a live frame that
/// `phys_to_virt` maps; the frame lies in one page, so every word of a piece is in it).
///
/// Every access of these helpers to user memory is an 8-byte atomic access to an aligned word,
/// so they never mix access sizes on the same bytes (which Rust's memory model leaves
/// undefined when accesses race) and a racing user write only makes the result unspecified.
fn user_word<'a>(address: usize) -> &'a AtomicU64 {
    debug_assert!(address.is_multiple_of(8));
    // SAFETY: the caller passes an aligned address inside a live frame mapped by
    // `phys_to_virt`; an `AtomicU64` is sound over memory others access concurrently.
    unsafe { &*(address as *const AtomicU64) }
}

/// Reads `buffer.len()` bytes of user memory at `frame.kernel_view` (relaxed 8-byte loads).
fn copy_from_frame(frame: FramePiece, buffer: &mut [u8]) {
    let source = frame.kernel_view.as_usize();
    let mut done = 0;
    // A partial first word, up to the next 8-byte boundary.
    let head = (8 - (source & 7)) & 7;
    if head != 0 {
        let len = head.min(buffer.len());
        done = read_partial(source, &mut buffer[..len]);
    }
    // Whole words: one aligned load each, a tight loop the compiler unrolls.
    let words = (buffer.len() - done) / 8;
    let first = (source + done) / 8 * 8;
    for (index, chunk) in buffer[done..done + words * 8]
        .chunks_exact_mut(8)
        .enumerate()
    {
        chunk.copy_from_slice(
            &user_word(first + index * 8)
                .load(Ordering::Relaxed)
                .to_ne_bytes(),
        );
    }
    done += words * 8;
    if done < buffer.len() {
        read_partial(source + done, &mut buffer[done..]);
    }
}

/// Reads `into.len()` (at most the rest of one word) bytes at `address`; returns the count.
fn read_partial(address: usize, into: &mut [u8]) -> usize {
    let offset = address & 7;
    let word = user_word(address - offset)
        .load(Ordering::Relaxed)
        .to_ne_bytes();
    into.copy_from_slice(&word[offset..offset + into.len()]);
    into.len()
}

/// Writes `data` to user memory at `frame.kernel_view`: relaxed 8-byte stores for whole
/// words, a compare-and-swap for the bytes of a partial word (the word's other bytes, which a
/// user thread may be writing, are kept).
fn copy_to_frame(frame: FramePiece, data: &[u8]) {
    let destination = frame.kernel_view.as_usize();
    let mut done = 0;
    let head = (8 - (destination & 7)) & 7;
    if head != 0 {
        done = write_partial(destination, &data[..head.min(data.len())]);
    }
    let words = (data.len() - done) / 8;
    let first = destination + done;
    for (index, chunk) in data[done..done + words * 8].chunks_exact(8).enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        user_word(first + index * 8).store(u64::from_ne_bytes(word), Ordering::Relaxed);
    }
    done += words * 8;
    if done < data.len() {
        write_partial(destination + done, &data[done..]);
    }
}

/// Writes `bytes` (at most the rest of one word) at `address` with a compare-and-swap of the
/// word; returns the count.
fn write_partial(address: usize, bytes: &[u8]) -> usize {
    let offset = address & 7;
    let merge = |old: u64| {
        let mut merged = old.to_ne_bytes();
        merged[offset..offset + bytes.len()].copy_from_slice(bytes);
        Some(u64::from_ne_bytes(merged))
    };
    // The closure never returns `None`, so the update always succeeds.
    let _ = user_word(address - offset).fetch_update(Ordering::Relaxed, Ordering::Relaxed, merge);
    bytes.len()
}
