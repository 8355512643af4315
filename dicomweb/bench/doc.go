// Package bench measures TeleHub's DICOMweb server side by side with
// Orthanc and its DICOMweb plugin, on the same machine and the same files:
// STOW-RS instances per second with several concurrent clients, QIDO-RS
// latency (p50/p99), WADO-RS retrieval throughput, and the peak memory of
// each server while a large study is stored (sampled over the first fifth
// of the study and over all of it, so growth with the study's size shows),
// split into anonymous and file-backed memory and, for a server in the
// benchmark's own process, the Go runtime's share: what is anonymous but
// not Go's is C memory, such as SQLite's page caches.
//
// Run benchmarks the targets it is given and prints a table;
// RunWithOrthanc adds an Orthanc it starts on loopback ports, which is what
// `telehub bench dicom` compares against. StartOrthanc is also what the
// conformance tests use to bring up their PACS peer.
//
// The instances are synthetic, MR-like (16-bit grey, 64 KB of pixels by
// default) and generated in memory while they are sent, so the benchmark
// needs no fixture files and its own memory stays flat.
package bench
