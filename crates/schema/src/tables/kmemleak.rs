//! kmemleak: kernel allocations and the frees that match them, with kernel
//! stacks, so that what the kernel allocated and never freed can be asked
//! for any window afterwards (`memana leaks`).

crate::table! {
    /// One kernel allocation that passed the filters (`--alloc-min-size`,
    /// `--kmem-cache`, the task filters) and the byte sampling
    /// (`--alloc-sample`). Only allocations recorded here are tracked: a free
    /// row exists only for an address this table holds, so an object
    /// allocated before the recording began never shows as freed or
    /// outstanding. The header is the allocating task (for pages, the task
    /// in whose context the page was taken: often kswapd or a kworker).
    ///
    /// The kinds overlap: a slab takes its memory from the page allocator
    /// (a `page` row when a slab grows), and a kmalloc larger than the
    /// largest kmalloc cache (two pages) is a `page` row as well. Frees the
    /// kernel does in bulk (kmem_cache_free_bulk, kfree_bulk, as batched
    /// kfree_rcu does) fire no tracepoint: their objects stay outstanding.
    /// A high-order page freed in parts after split_page() (as
    /// alloc_pages_exact does) is seen freed only with its first page.
    kernel_alloc, group = "kmemleak", task = header, sources = "kmem:kmalloc, kmem:kmem_cache_alloc, kmem:mm_page_alloc, percpu:percpu_alloc_percpu" {
        /// What allocated: `kmalloc` (kmalloc and kmalloc_node), `cache`
        /// (kmem_cache_alloc from a named cache), `page` (the page
        /// allocator) or `percpu` (alloc_percpu).
        kind: Text => None,
        /// The object's address; for `page`, the page frame number (pfn).
        address: u64 => Address,
        /// Bytes the caller asked for; null for `page`.
        bytes_req: Option<u64> => Bytes,
        /// Bytes the allocator took for it: the slab object size, the pages
        /// (page size << order), or a percpu area's size times the CPUs.
        bytes_alloc: u64 => Bytes,
        /// The slab cache: its name for `cache`; for `kmalloc`, the kmalloc
        /// cache that the size and gfp choose, named as /proc/slabinfo
        /// names it (`kmalloc-64`, `kmalloc-1k`, `kmalloc-cg-…` with
        /// __GFP_ACCOUNT, `kmalloc-rcl-…` with __GFP_RECLAIMABLE,
        /// `dma-kmalloc-…` with __GFP_DMA; the kmalloc tracepoint names no
        /// cache, so a kernel's dedicated buckets, CONFIG_SLAB_BUCKETS, show
        /// as the general cache of their size); null for a kmalloc above
        /// two pages (the page allocator's), `page` and `percpu`.
        cache: Option<Text> => None,
        /// The page order for `page`; null otherwise.
        order: Option<u32> => None,
        /// The kernel function that called the allocator (a return
        /// address; `kernel_symbol` names it); null for `page`.
        call_site: Option<u64> => Address,
        /// GFP flags, raw.
        gfp: u32 => Flags,
        /// `gfp` decoded with the kernel's own names (`GFP_KERNEL|__GFP_ZERO`).
        gfp_flags: Text => None,
        /// NUMA node asked for (-1: any); null where the tracepoint has none.
        node: Option<i32> => Id,
        /// The kernel stack of the allocation (`stack_frame`, `kernel` =
        /// true); null when stacks are off (`--no-alloc-stacks`) or none
        /// could be read (`stack_error`).
        stack_id: Option<u64> => Id,
        /// The kernel's error when no stack could be read (negative errno
        /// of `bpf_get_stack`); null otherwise.
        stack_error: Option<i32> => None,
        /// The byte sampling period: allocations are sampled as points of a
        /// Poisson process over allocated bytes with this mean gap, so one
        /// of `bytes_alloc` bytes is kept with probability
        /// p = 1 − exp(−bytes_alloc / sample_bytes) and stands for 1/p
        /// allocations and bytes_alloc/p bytes. Null: every allocation that
        /// passed the filters was recorded.
        sample_bytes: Option<u64> => Bytes,
    }
}

crate::table! {
    /// A kernel free of an address that `kernel_alloc` recorded (frees of
    /// untracked objects are not recorded). The header is the freeing task.
    kernel_free, group = "kmemleak", task = header, sources = "kmem:kfree, kmem:kmem_cache_free, kmem:mm_page_free, kmem:mm_page_free_batched, percpu:percpu_free_percpu" {
        /// The kind of the allocation freed, as in `kernel_alloc`.
        kind: Text => None,
        /// The object's address; for `page`, the pfn.
        address: u64 => Address,
        /// The kernel function that freed it; null for `page` and
        /// `percpu` (their tracepoints have none).
        call_site: Option<u64> => Address,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&kernel_alloc::TABLE, &kernel_free::TABLE];
