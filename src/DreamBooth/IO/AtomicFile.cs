using System.Text;

namespace DreamBooth.IO;

/// <summary>
/// Writes files so that a crash, kill or full disk at any moment leaves either the previous file or the complete new
/// one, never a mix: data goes to a temporary file in the same folder, is flushed to disk, then renamed over the target.
/// </summary>
public static class AtomicFile
{
    /// <summary>Suffix of temporary files; readers skip names that end with it.</summary>
    public const string TempSuffix = ".partial";

    /// <summary>
    /// Deletes the temporary files (<c>.NAME.PID.GUID.partial</c>) that writers killed mid-write left in
    /// <paramref name="directory"/> and its subfolders, skipping those of a process that is still running.
    /// </summary>
    /// <returns>The number of files deleted.</returns>
    public static int RemoveStaleTemps(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        int n = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "." + "*" + TempSuffix, SearchOption.AllDirectories))
        {
            var parts = System.IO.Path.GetFileName(file).Split('.');
            // "", NAME (may hold dots), PID, GUID, "partial"
            if (parts.Length < 5 || !int.TryParse(parts[^3], out int pid) || IsRunning(pid)) continue;
            TryDelete(file);
            n++;
        }
        return n;
    }

    /// <summary>True when a process with this id runs (this one included).</summary>
    internal static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Writes a file through <paramref name="write"/>; on any failure the target is untouched and the temp file removed.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (IsDiskFull(e))
        {
            TryDelete(tmp);
            throw new DreamBoothException($"{full}: disk full or file size limit reached while writing; the previous file, if any, is intact", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>
    /// Checks, before long work, that <see cref="Write"/> will be able to write <paramref name="path"/>: creates and removes
    /// an empty temp file in its folder, or, when that does not exist yet, in the nearest folder above it that does (so
    /// nothing is left behind, not even an empty folder). Throws a one-line <see cref="DreamBoothException"/> naming
    /// <paramref name="flag"/> and <paramref name="shown"/> (default: the path) when that fails (read-only, no permission, a file in the way).
    /// </summary>
    public static void CheckWritable(string path, string flag, string? shown = null)
    {
        shown ??= path;
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full);
        while (dir is not null && !Directory.Exists(dir))
        {
            if (File.Exists(dir)) throw new DreamBoothException($"{flag} {shown}: {dir} is a file, not a folder");
            dir = System.IO.Path.GetDirectoryName(dir);
        }
        if (dir is null) throw new DreamBoothException($"{flag} {shown}: no folder of it exists");
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The OS message names the probe file, which the user never asked for; say what happened to the folder instead.
            string reason = e switch
            {
                UnauthorizedAccessException => $"permission denied in {dir}",
                FileNotFoundException or DirectoryNotFoundException => $"{dir} takes no new files",
                _ => e.Message.Replace(tmp, dir, StringComparison.Ordinal),
            };
            throw new DreamBoothException($"{flag} {shown}: cannot write there ({reason})", e);
        }
        finally
        {
            TryDelete(tmp);
        }
    }

    /// <summary>
    /// <see cref="CheckWritable"/> for a folder the command will write files into: a file in its place is "is a file,
    /// expected a folder"; otherwise the folder, or the nearest existing one above it, must take a new file.
    /// </summary>
    public static void CheckWritableFolder(string dir, string flag, string? shown = null)
    {
        shown ??= dir;
        if (File.Exists(dir)) throw new DreamBoothException($"{flag} {shown}: is a file, expected a folder");
        CheckWritable(System.IO.Path.Combine(dir, "write-check"), flag, shown); // probes with ".write-check.PID.GUID.partial"
    }

    /// <summary>Writes all bytes atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes UTF-8 text (no BOM) atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    /// <summary>Whether <paramref name="e"/>, thrown while writing a file, says the disk is full or a file size limit (RLIMIT_FSIZE) was reached.</summary>
    public static bool IsDiskFull(Exception e) => e switch
    {
        IOException io => io.HResult is 28 or 27 or unchecked((int)0x80070070) // ENOSPC, EFBIG, ERROR_DISK_FULL
                          || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
                          || io.Message.Contains("File too large", StringComparison.OrdinalIgnoreCase),
        // .NET on Unix reports EFBIG from a write as ArgumentOutOfRangeException("value", "Specified file length was too large
        // for the file system"), thrown by System.IO (RandomAccess.WriteAtOffset).
        ArgumentOutOfRangeException { ParamName: "value" } a => a.TargetSite?.DeclaringType?.Namespace == "System.IO",
        _ => false,
    };

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
