// One oneDNN matmul primitive, built once and run from any of the engine's workers.
// oneDNN's own (library) scratchpad is shared by all primitives and is only safe on the thread
// that built the primitive (docs/DECISIONS.md, "oneDNN primitives get their own scratchpad");
// here the scratchpad is the caller's, so concurrent runs never share one.
import CDnnl

final class DnnlMatmul: @unchecked Sendable {
    private let primitive: dnnl_primitive_t
    private let scratchpadDesc: dnnl_memory_desc_t
    /// Bytes of scratchpad each run needs (often 0).
    let scratchpadBytes: Int

    /// The CPU engine all products share (nil if oneDNN has none).
    nonisolated(unsafe) static let engine: dnnl_engine_t? = {
        var e: dnnl_engine_t?
        return dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success ? e : nil
    }()

    /// nil when oneDNN has no implementation for these memory descriptions.
    init?(src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t) {
        guard let engine = Self.engine else { return nil }
        // oneDNN picks the kernel and blocking for the OpenMP thread count of the building
        // thread; every run is single-threaded, so build for one thread, whichever thread
        // builds (the workbench builds on its engine thread, whose OpenMP default is all cores:
        // its masks differed from `segment`'s).
        omp_set_num_threads(1)
        var (s, w, d) = (src, weights, dst)
        var op = dnnl_matmul_desc_t()
        var attr: dnnl_primitive_attr_t?
        var pd: dnnl_primitive_desc_t?
        var prim: dnnl_primitive_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success, let attr else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        guard dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success,
              dnnl_matmul_desc_init(&op, &s, &w, nil, &d) == dnnl_success,
              dnnl_primitive_desc_create(&pd, &op, attr, engine, nil) == dnnl_success, let pd else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        guard let md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0),
              dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else { return nil }
        scratchpadDesc = md.pointee
        scratchpadBytes = dnnl_memory_desc_get_size(md)
        primitive = prim
    }

    deinit { dnnl_primitive_destroy(primitive) }

    /// Runs the product on this thread, single-threaded; each operand is a memory description
    /// (with any run-time dimensions resolved) and its data.
    func run(src: (dnnl_memory_desc_t, UnsafeRawPointer), weights: (dnnl_memory_desc_t, UnsafeRawPointer),
             dst: (dnnl_memory_desc_t, UnsafeMutableRawPointer)) {
        guard let engine = Self.engine else { return }
        omp_set_num_threads(1)   // no nested OpenMP team inside our workers
        let pad = scratchpadBytes > 0 ? UnsafeMutableRawPointer.allocate(byteCount: scratchpadBytes, alignment: 64) : nil
        defer { pad?.deallocate() }
        var (sd, wd, dd, pd) = (src.0, weights.0, dst.0, scratchpadDesc)
        var s: dnnl_memory_t?, w: dnnl_memory_t?, d: dnnl_memory_t?, p: dnnl_memory_t?, stream: dnnl_stream_t?
        _ = dnnl_memory_create(&s, &sd, engine, UnsafeMutableRawPointer(mutating: src.1))
        _ = dnnl_memory_create(&w, &wd, engine, UnsafeMutableRawPointer(mutating: weights.1))
        _ = dnnl_memory_create(&d, &dd, engine, dst.1)
        if let pad { _ = dnnl_memory_create(&p, &pd, engine, pad) }
        _ = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue)
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: s), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: w),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: d)]
        if p != nil { args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: p)) }
        let status = dnnl_primitive_execute(primitive, stream, Int32(args.count), args)
        precondition(status == dnnl_success, "oneDNN matmul failed (status \(status.rawValue))")
        _ = dnnl_stream_wait(stream)
        dnnl_stream_destroy(stream)
        dnnl_memory_destroy(s); dnnl_memory_destroy(w); dnnl_memory_destroy(d)
        if let p { dnnl_memory_destroy(p) }
    }
}
