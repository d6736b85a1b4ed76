package driver_test

import (
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// curlUpload uploads local as name with curl and returns its -v trace and
// error.
func curlUpload(t *testing.T, ts *testServer, curl, work, local, name string) (string, error) {
	t.Helper()
	_, trace, err := runToolErr(t, work, curl, append(curlBase(userName, userPass), "-T", local, "ftp://"+ts.Addr+"/"+name)...)
	return trace, err
}

// mustNotStart fails unless curl's trace shows STOR answered 552 with no
// 150 before it.
func mustNotStart(t *testing.T, what, trace string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(trace, "< 552") || strings.Contains(trace, "< 150") {
		t.Fatalf("%s: curl %v; want 552 before any 150\n%s", what, err, tail(trace, 3000))
	}
}

// TestQuotaClients holds real clients to quota_bytes and quota_files on
// backends "os" and "s3" (MinIO):
//   - Python's ftplib sends ALLO of a size beyond the quota then STOR: the
//     STOR is answered 552, with no 150 (ftplib raises at the STOR's first
//     reply) and no transfer logged, and the stored file is intact;
//   - curl replaces the file with more than the quota (no ALLO): the upload
//     fails with 552 as it crosses the limit, the old file is intact
//     (SHA-256) and nothing of the upload is left (no hidden partial file,
//     no incomplete multipart upload);
//   - curl uploads files up to quota_files, the next is refused with 552
//     before 150;
//   - lftp deletes a file and renames another over the first, and SITE
//     QUOTA (lftp's quote, then Python) shows the usage that follows.
func TestQuotaClients(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			curl := testenv.NeedTool(t, "curl", "curl")
			lftp := testenv.NeedTool(t, "lftp", "lftp")
			const limit = 100_000
			ts, old := serveFileOn(t, backend, withQuota(t, userName, limit, 3), "keep.bin", 30_000)
			work := t.TempDir()
			big := ftptest.WriteFile(t, work, "big.bin", ftptest.RandomData(t, 200_000))

			res := runFtplib(t, ts, userName, userPass, "--allo", "200000", "--upload", big, "--remote", "keep.bin", "--site", "QUOTA")
			if !strings.HasPrefix(res.Allo, "200") || !strings.HasPrefix(res.StorError, "552") || res.Stor != "" {
				t.Fatalf("ftplib ALLO 200000, STOR keep.bin: ALLO %q, STOR %q / %q; want 200, then 552", res.Allo, res.Stor, res.StorError)
			}
			if n := ts.countLogs("transfer", map[string]any{"path": "/keep.bin"}); n != 0 {
				t.Fatalf("STOR refused after ALLO: %d transfers logged, want none", n)
			}
			if u, err := parseQuota(strings.TrimPrefix(res.Site, "200 ")); err != nil || u != (quotaUsage{30_000, limit, 1, 3}) {
				t.Fatalf("SITE QUOTA: %q (%v), want 30000 of %d bytes, 1 of 3 files", res.Site, err, limit)
			}
			ts.MustHaveFile(t, "keep.bin", old)

			trace, err := curlUpload(t, ts, curl, work, big, "keep.bin")
			if err == nil || !strings.Contains(trace, "< 150") || !strings.Contains(trace, "< 552") {
				t.Fatalf("curl STOR crossing quota_bytes: %v; want 150, then 552\n%s", err, tail(trace, 3000))
			}
			ts.MustHaveFile(t, "keep.bin", old)
			ts.MustNoPartialUploads(t)
			if ts.S3 != nil {
				if n := incompleteUploads(t, ts.S3, aliceKey("keep.bin")); n != 0 {
					t.Fatalf("%d multipart uploads of keep.bin left incomplete", n)
				}
			}

			small := ftptest.RandomData(t, 1000)
			local := ftptest.WriteFile(t, work, "small.bin", small)
			for _, name := range []string{"a.bin", "b.bin"} {
				if trace, err := curlUpload(t, ts, curl, work, local, name); err != nil {
					t.Fatalf("curl STOR %s: %v\n%s", name, err, tail(trace, 3000))
				}
			}
			trace, err = curlUpload(t, ts, curl, work, local, "c.bin")
			mustNotStart(t, "curl STOR of a 4th file with quota_files 3", trace, err)

			// a.bin deleted, b.bin renamed over keep.bin: 1000 bytes, 1 file.
			stdout, trace := runTool(t, work, lftp, "-c", lftpScript(ts.Addr, userName, userPass, false,
				"rm a.bin", "mv b.bin keep.bin", "quote SITE QUOTA"))
			if !strings.Contains(stdout+trace, "quota: 1000 of 100000 bytes") {
				t.Fatalf("lftp quote SITE QUOTA after rm and mv: want 1000 bytes used\nstdout: %s\n%s", stdout, tail(trace, 2000))
			}
			res = runFtplib(t, ts, userName, userPass, "--download", ftptest.WriteFile(t, work, "got", nil), "--get", "keep.bin", "--site", "QUOTA")
			if u, err := parseQuota(strings.TrimPrefix(res.Site, "200 ")); err != nil || u != (quotaUsage{1000, limit, 1, 3}) {
				t.Fatalf("SITE QUOTA after rm and mv: %q (%v), want 1000 bytes, 1 file", res.Site, err)
			}
			if res.RetrSHA256 != ftptest.SHA256Hex(small) {
				t.Fatalf("keep.bin after mv: sha256 %s, want b.bin's %s", res.RetrSHA256, ftptest.SHA256Hex(small))
			}
			ts.MustHaveFile(t, "keep.bin", small)
			t.Log("usage after rm and mv:", res.Site)
		})
	}
}
