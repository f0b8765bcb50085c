// swift-tools-version:5.10
// medseg: a terminal workbench for medical image segmentation (see README.md, docs/DECISIONS.md).
import PackageDescription

let package = Package(
    name: "medseg",
    products: [
        .executable(name: "medseg", targets: ["Workbench"]),
    ],
    targets: [
        // System-library shims (Debian -dev packages; scripts/setup.sh installs them).
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses"),
        .systemLibrary(name: "CZip", path: "Sources/CZip"),
        .systemLibrary(name: "CNifti", path: "Sources/CNifti"),
        .systemLibrary(name: "CPng", path: "Sources/CPng"),
        .systemLibrary(name: "CDnnl", path: "Sources/CDnnl"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),

        // Value types, file I/O, windowing, metrics.
        // nifti2_io.h includes <znzlib.h>, which Debian keeps in /usr/include/nifti (no pkg-config file).
        .target(name: "Volumes", dependencies: ["CZip", "CNifti", "CPng"],
                swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
        // The LiteMedSAM engine: knows images and boxes, not files or volumes.
        .target(name: "SegEngine", dependencies: ["CDnnl", "COpenBLAS", "CZip"]),
        // Slices and overlays into a cell grid; no terminal I/O.
        .target(name: "Render", dependencies: ["Volumes"]),
        // The `medseg` executable: CLI subcommands and the ncurses app.
        .executableTarget(name: "Workbench", dependencies: ["Volumes", "SegEngine", "Render", "CNcurses"],
                          swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),

        .testTarget(name: "VolumesTests", dependencies: ["Volumes"], resources: [.copy("Fixtures")],
                    swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
        .testTarget(name: "SegEngineTests", dependencies: ["SegEngine", "Volumes"], resources: [.copy("Fixtures")],
                    swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
        .testTarget(name: "RenderTests", dependencies: ["Render"]),
        .testTarget(name: "WorkbenchTests", dependencies: ["Workbench", "Volumes"],
                    swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
    ]
)
