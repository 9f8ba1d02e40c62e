using System.Runtime.InteropServices;

namespace DreamBooth.Training;

/// <summary>
/// fsync of a directory, so that a rename into it (a finished checkpoint) survives a power loss, not only a crash.
/// .NET has no API for it; on Linux this calls open(O_DIRECTORY) + fsync through libc. Best effort: failures are ignored
/// (the rename itself is already atomic against crashes and kills).
/// </summary>
internal static partial class DirectorySync
{
    private const int ReadOnlyDirectory = 0x10000; // O_RDONLY | O_DIRECTORY on Linux x86-64 and arm64

    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            int fd = Open(directory, ReadOnlyDirectory);
            if (fd < 0) return;
            Fsync(fd);
            Close(fd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
