// Package dicomweb holds TeleHub's DICOMweb conformance suite, run as Go
// tests against real peers rather than mocks:
//
//   - fixtures made by dcmtk (dump2dcm, dcmconv, dcmcjpeg) in several
//     transfer syntaxes, grey and colour, single and multi-frame, plus the
//     real files shipped with github.com/suyashkumar/dicom;
//   - the renderer (dicomweb/render) checked pixel by pixel against
//     dcmtk's own renderer, dcmj2pnm;
//   - Orthanc with its DICOMweb plugin, started by the tests, which stores
//     files, sends a study to TeleHub through its own DICOMweb client
//     (STOW-RS) and queries and retrieves it back (QIDO-RS, WADO-RS);
//   - the npm dicomweb-client, the library web viewers use, run with
//     Node.js against TeleHub.
//
// A test whose tool is missing skips with a message, unless
// TELEHUB_REQUIRE_E2E=1 (as in CI), when it fails instead.
//
// Two switches run what the ordinary test run leaves out:
// TELEHUB_DICOM_BENCH=1 runs the DICOMweb benchmark (dicomweb/bench) at
// its full size against TeleHub and Orthanc (TestBenchFull, minutes), and
// TELEHUB_WRITE_TESTDATA=1 rewrites testdata/dicom from the fixtures
// (TestWriteTestdata).
package dicomweb
