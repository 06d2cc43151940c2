// What every module of Portal Gun gets by importing PortalBase: the C
// library, Dispatch, and FoundationEssentials (Date, Data, FileManager,
// ProcessInfo, URL), never the full Foundation. That one brings ICU and
// its data into every executable that links it: about 30 MiB of binary,
// and, at every start, a few MiB of memory and milliseconds of loading
// (README, "Benchmarks"). What FoundationEssentials lacks is here, on the
// C library: `Lock` and `detachThread` (Threads.swift), `cFormat` and
// the ISO 8601 dates (Format.swift), paths (Paths.swift), the XML reader
// (PortalAWS's XMLResponse.swift).
#if canImport(FoundationEssentials)
@_exported import FoundationEssentials
#else
@_exported import Foundation
#endif
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#endif
@_exported import Dispatch
