using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>
/// A PyTorch pickle checkpoint (<c>torch.save</c> of a state dict: <c>.bin</c>, <c>.pt</c>, <c>.pth</c>, <c>.ckpt</c>) read
/// without running it: the pickle goes through <see cref="RestrictedUnpickler"/>, which only rebuilds tensors, and tensor
/// data is read from the storages on demand. Both layouts <c>torch.save</c> has written are read: the zip archive of
/// PyTorch ≥ 1.6 (<c>NAME/data.pkl</c> + one <c>NAME/data/KEY</c> file per storage) and the older single stream
/// (magic number, protocol, system-info and data pickles, the storage-key list, then each storage's element count
/// and bytes). The checkpoint must be a dict of tensors (a <c>{"state_dict": {...}}</c> wrapper is unwrapped); every
/// tensor view is checked against its storage at open time. Only loaded when the user allows pickle files
/// (<see cref="ModelFolderOptions.AllowPickle"/>, <c>--allow-pickle</c>).
/// </summary>
public sealed class PickleCheckpoint : ITensorReader
{
    /// <summary>Largest pickle (data.pkl) read; state-dict pickles are well under a megabyte.</summary>
    public const long MaxPickleBytes = 64L << 20;

    /// <summary>The magic number that starts a legacy (non-zip) checkpoint.</summary>
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");

    private sealed record Storage(PickleStorage Info, long Offset, ZipArchiveEntry? Entry);

    private readonly FileStream _stream;
    private readonly ZipArchive? _zip;
    private readonly Dictionary<string, Storage> _storages;
    private readonly Dictionary<string, PickleTensor> _tensors;

    /// <inheritdoc/>
    public string Path { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> Files => [Path];

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    private PickleCheckpoint(string path, FileStream stream, ZipArchive? zip, Dictionary<string, Storage> storages, Dictionary<string, PickleTensor> tensors)
    {
        Path = path;
        _stream = stream;
        _zip = zip;
        _storages = storages;
        _tensors = tensors;
        Entries = tensors.ToDictionary(kv => kv.Key, kv =>
        {
            var t = kv.Value;
            long size = Safetensors.ElementSize(t.Storage.DType)!.Value;
            long numel = t.Shape.Aggregate(1L, (a, b) => a * b);
            return new SafetensorsEntry(kv.Key, t.Storage.DType, t.Shape, t.Offset * size, (t.Offset + numel) * size);
        }, StringComparer.Ordinal);
    }

    /// <summary>Opens a checkpoint and validates its pickle and every tensor's storage; tensor data is read on demand.</summary>
    /// <exception cref="DreamBoothException">Not a PyTorch checkpoint, a refused global or opcode, or an inconsistent tensor; one line naming the file.</exception>
    public static PickleCheckpoint Open(string path)
    {
        if (Directory.Exists(path)) throw new DreamBoothException($"{path}: is a folder, expected a PyTorch checkpoint file");
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: weights file not found");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot open weights file ({e.Message})");
        }
        ZipArchive? zip = null;
        try
        {
            Span<byte> head = stackalloc byte[4];
            int n = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
            stream.Position = 0;
            if (n == 4 && head.SequenceEqual("PK\x03\x04"u8))
            {
                try
                {
                    zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
                }
                catch (InvalidDataException e)
                {
                    throw new DreamBoothException($"{path}: not a readable zip archive ({e.Message})");
                }
                var (storages, tensors) = ReadZip(path, zip);
                return new PickleCheckpoint(path, stream, zip, storages, tensors);
            }
            if (n >= 2 && head[0] == 0x80)
            {
                var (storages, tensors) = ReadLegacy(path, stream);
                return new PickleCheckpoint(path, stream, null, storages, tensors);
            }
            throw new DreamBoothException($"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)");
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            zip?.Dispose();
            stream.Dispose();
            throw new DreamBoothException($"{path}: cannot read the checkpoint ({e.Message})");
        }
        catch
        {
            zip?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, Storage>, Dictionary<string, PickleTensor>) ReadZip(string path, ZipArchive zip)
    {
        // The archive's records live under one folder (the name it was saved with, "archive" for most files).
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length).ToList();
        if (zip.Entries.Any(e => e.FullName.EndsWith("/constants.pkl", StringComparison.Ordinal)))
            throw new DreamBoothException($"{path}: is a TorchScript archive, not a torch.save state dict; save the model's state_dict() instead");
        if (pickles.Count != 1)
            throw new DreamBoothException($"{path}: not a PyTorch checkpoint: the zip archive has {(pickles.Count == 0 ? "no" : pickles.Count.ToString())} NAME/data.pkl record{(pickles.Count == 1 ? "" : "s")}");
        var pkl = pickles[0];
        var prefix = pkl.FullName[..^"data.pkl".Length];
        var source = $"{path} ({pkl.FullName})";

        if (zip.GetEntry(prefix + "byteorder") is { } order)
        {
            var text = System.Text.Encoding.ASCII.GetString(ReadEntry(path, order, 16)).Trim();
            if (text != "little") throw new DreamBoothException($"{path}: storages are stored '{Shorten(text)}'-endian; only little-endian checkpoints are read");
        }
        if (pkl.Length > MaxPickleBytes)
            throw new DreamBoothException($"{source}: {pkl.Length} bytes is too large for a state-dict pickle (limit {MaxPickleBytes})");

        var storages = new Dictionary<string, Storage>(StringComparer.Ordinal);
        PickleStorage Persistent(object?[] pid)
        {
            // torch.save (zip): ('storage', storage class, key, location, numel)
            var info = StorageOf(pid, 5, source);
            if (storages.TryGetValue(info.Key, out var known)) return SameStorage(known.Info, info, source);
            var entry = zip.GetEntry($"{prefix}data/{info.Key}")
                        ?? throw new DreamBoothException($"{source}: storage '{info.Key}' has no record {prefix}data/{info.Key} in the archive");
            long bytes = info.Numel * Safetensors.ElementSize(info.DType)!.Value;
            CheckRecordSize(path, entry);
            if (entry.Length != bytes)
                throw new DreamBoothException($"{path}: storage record {entry.FullName} holds {entry.Length} bytes but {info.Numel} {info.DType} elements need {bytes}");
            storages[info.Key] = new Storage(info, 0, entry);
            return info;
        }
        var root = new RestrictedUnpickler(ReadEntry(path, pkl, MaxPickleBytes), source, Persistent).Load();
        return (storages, StateDict(root, source));
    }

    private static (Dictionary<string, Storage>, Dictionary<string, PickleTensor>) ReadLegacy(string path, FileStream stream)
    {
        // The pickles come first and are small; the storages follow. Read at most MaxPickleBytes to find them.
        long length = stream.Length;
        var head = new byte[(int)Math.Min(length, MaxPickleBytes)];
        stream.ReadExactly(head);
        var memory = head.AsMemory();
        PickleStorage NoPersistent(object?[] _) => throw new DreamBoothException($"{path}: malformed legacy checkpoint: a storage in its header pickles");

        var magic = new RestrictedUnpickler(memory, path, NoPersistent).Load(out int pos);
        if (!(magic is long m ? m == LegacyMagic : magic is BigInteger b && b == LegacyMagic))
            throw new DreamBoothException($"{path}: not a PyTorch checkpoint (a pickle without torch.save's magic number)");
        var protocol = new RestrictedUnpickler(memory, path, NoPersistent, pos).Load(out pos);
        if (protocol is not 1001L) throw new DreamBoothException($"{path}: legacy checkpoint protocol {RestrictedUnpickler.Describe(protocol)} is not supported (expected 1001)");
        var sysInfo = new RestrictedUnpickler(memory, path, NoPersistent, pos).Load(out pos);
        if (sysInfo is PickleDict info && info.Get("little_endian") is false)
            throw new DreamBoothException($"{path}: a big-endian legacy checkpoint; only little-endian checkpoints are read");

        var referenced = new Dictionary<string, PickleStorage>(StringComparer.Ordinal);
        PickleStorage Persistent(object?[] pid)
        {
            // torch.save (legacy): ('storage', storage class, key, location, numel, view_metadata)
            var s = StorageOf(pid, 6, path);
            if (pid[5] is not null) throw new DreamBoothException($"{path}: storage '{s.Key}' is a view of another storage, which is not supported");
            if (referenced.TryGetValue(s.Key, out var known)) return SameStorage(known, s, path);
            referenced[s.Key] = s;
            return s;
        }
        var root = new RestrictedUnpickler(memory, path, Persistent, pos).Load(out pos);
        var keys = new RestrictedUnpickler(memory, path, NoPersistent, pos).Load(out pos);
        if (keys is not List<object?> keyList || keyList.Any(k => k is not string))
            throw new DreamBoothException($"{path}: malformed legacy checkpoint: the storage-key list is {RestrictedUnpickler.Describe(keys)}");

        // Each storage: an int64 element count, then its bytes, in the order of the key list.
        var storages = new Dictionary<string, Storage>(StringComparer.Ordinal);
        long offset = pos;
        Span<byte> count = stackalloc byte[8];
        foreach (string key in keyList.Cast<string>())
        {
            if (!referenced.TryGetValue(key, out var s))
                throw new DreamBoothException($"{path}: storage '{key}' is listed but no tensor uses it");
            if (storages.ContainsKey(key)) throw new DreamBoothException($"{path}: storage '{key}' is listed twice");
            if (offset + 8 > length) throw new DreamBoothException($"{path}: truncated: storage '{key}' starts past the end of the file");
            stream.Position = offset;
            stream.ReadExactly(count);
            long numel = BinaryPrimitives.ReadInt64LittleEndian(count);
            if (numel != s.Numel) throw new DreamBoothException($"{path}: storage '{key}' records {numel} elements but the pickle says {s.Numel}");
            long bytes = s.Numel * Safetensors.ElementSize(s.DType)!.Value;
            if (bytes > length - offset - 8) throw new DreamBoothException($"{path}: truncated: storage '{key}' needs {bytes} bytes, the file has {length - offset - 8} left");
            storages[key] = new Storage(s, offset + 8, null);
            offset += 8 + bytes;
        }
        var missing = referenced.Keys.FirstOrDefault(k => !storages.ContainsKey(k));
        if (missing is not null) throw new DreamBoothException($"{path}: storage '{missing}' is used by a tensor but not stored in the file");
        return (storages, StateDict(root, path));
    }

    // ('storage', torch.XStorage, key, location, numel[, view_metadata])
    private static PickleStorage StorageOf(object?[] pid, int arity, string source)
    {
        if (pid.Length != arity || pid[0] is not "storage")
            throw new DreamBoothException($"{source}: persistent id is a {pid.Length}-tuple starting with {RestrictedUnpickler.Describe(pid.FirstOrDefault())}, not a torch storage reference");
        var dtype = RestrictedUnpickler.StorageDType(pid[1])
                    ?? throw new DreamBoothException($"{source}: storage type {RestrictedUnpickler.Describe(pid[1])} is not a torch storage class");
        if (pid[2] is not string key || key.Length == 0 || key.Length > 64 || key.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.')) || key.Contains(".."))
            throw new DreamBoothException($"{source}: storage key {(pid[2] is string k ? $"'{Shorten(k)}'" : RestrictedUnpickler.Describe(pid[2]))} is not a plain name");
        if (pid[3] is not string) throw new DreamBoothException($"{source}: storage '{key}' location is {RestrictedUnpickler.Describe(pid[3])}, not a device string");
        if (pid[4] is not long numel || numel < 0 || numel > long.MaxValue / 8)
            throw new DreamBoothException($"{source}: storage '{key}' size {RestrictedUnpickler.Describe(pid[4])} is not a valid element count");
        return new PickleStorage(key, dtype, numel);
    }

    private static PickleStorage SameStorage(PickleStorage known, PickleStorage again, string source) =>
        known == again ? known : throw new DreamBoothException($"{source}: storage '{again.Key}' is declared twice with different types or sizes");

    /// <summary>The checkpoint's tensors: the root dict, or its "state_dict" entry; every value a tensor inside its storage.</summary>
    private static Dictionary<string, PickleTensor> StateDict(object? root, string source)
    {
        if (root is PickleDict wrapper && wrapper.Get("state_dict") is PickleDict inner) root = inner;
        if (root is not PickleDict dict)
            throw new DreamBoothException($"{source}: the checkpoint is {RestrictedUnpickler.Describe(root)}, not a state dict (a dict of tensor names to tensors)");
        var tensors = new Dictionary<string, PickleTensor>(StringComparer.Ordinal);
        foreach (var (key, value) in dict.Entries)
        {
            if (key is not string name || name.Length == 0)
                throw new DreamBoothException($"{source}: the state dict has a key that is {RestrictedUnpickler.Describe(key)}, not a tensor name");
            if (value is not PickleTensor t)
                throw new DreamBoothException($"{source}: state dict entry '{name}' is {RestrictedUnpickler.Describe(value)}, not a tensor");
            CheckView(name, t, source);
            tensors[name] = t;
        }
        return tensors;
    }

    // The view (offset, shape, stride) must stay inside its storage; computed without overflow.
    private static void CheckView(string name, PickleTensor t, string source)
    {
        if (t.Shape.Length > 16) throw new DreamBoothException($"{source}: tensor '{name}' has {t.Shape.Length} dimensions, more than 16");
        if (t.Shape.Contains(0)) return;
        BigInteger last = t.Offset, numel = 1;
        for (int i = 0; i < t.Shape.Length; i++)
        {
            last += (BigInteger)(t.Shape[i] - 1) * t.Stride[i];
            numel *= t.Shape[i];
        }
        if (last >= t.Storage.Numel)
            throw new DreamBoothException($"{source}: tensor '{name}' (offset {t.Offset}, size [{string.Join(", ", t.Shape)}], stride [{string.Join(", ", t.Stride)}]) reaches past the {t.Storage.Numel} elements of storage '{t.Storage.Key}'");
        if (numel > long.MaxValue / 8) throw new DreamBoothException($"{source}: tensor '{name}' has too many elements");
    }

    /// <inheritdoc/>
    public Tensor Load(string name, ScalarType? floatType = null)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new DreamBoothException($"{Path}: no tensor named '{name}'");
        var storage = _storages[t.Storage.Key];
        var type = Safetensors.ToScalarType(storage.Info.DType);
        using var scope = NewDisposeScope();
        var data = empty([storage.Info.Numel], type);
        try
        {
            lock (_stream)
            {
                if (storage.Entry is { } entry)
                {
                    using var s = entry.Open();
                    Safetensors.ReadNative(s, data);
                }
                else
                {
                    _stream.Position = storage.Offset;
                    Safetensors.ReadNative(_stream, data);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or InvalidDataException)
        {
            throw new DreamBoothException($"{Path}: cannot read storage '{storage.Info.Key}' of tensor '{name}' ({ex.Message})");
        }
        var result = IsWhole(t, storage.Info.Numel) ? data.reshape(t.Shape) : data.as_strided(t.Shape, t.Stride, t.Offset).contiguous();
        if (floatType is { } ft && result.is_floating_point() && result.dtype != ft) result = result.to_type(ft);
        return result.contiguous().MoveToOuterDisposeScope();
    }

    private static bool IsWhole(PickleTensor t, long storageNumel)
    {
        if (t.Offset != 0 || t.Shape.Aggregate(1L, (a, b) => a * b) != storageNumel) return false;
        long expected = 1;
        for (int i = t.Shape.Length - 1; i >= 0; i--)
        {
            if (t.Shape[i] != 1 && t.Stride[i] != expected) return false;
            expected *= t.Shape[i];
        }
        return true;
    }

    /// <summary>Most a record may inflate: torch.save stores records uncompressed, so any real checkpoint is at 1.</summary>
    private const long MaxCompressionRatio = 100;

    // A zip's directory states each record's sizes; a hostile one can claim gigabytes in a tiny file (a zip bomb, or a
    // storage that Load would allocate before finding the data missing). The claim is checked against the file first.
    private static void CheckRecordSize(string path, ZipArchiveEntry entry)
    {
        long fileLength = new FileInfo(path).Length;
        if (entry.CompressedLength > fileLength)
            throw new DreamBoothException($"{path}: record {entry.FullName} claims {entry.CompressedLength} stored bytes but the file has {fileLength} (truncated or forged archive)");
        if (entry.Length > Math.Max(entry.CompressedLength, 1) * MaxCompressionRatio)
            throw new DreamBoothException($"{path}: record {entry.FullName} would inflate {entry.CompressedLength} bytes to {entry.Length} (a zip bomb?)");
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, long limit)
    {
        CheckRecordSize(path, entry);
        if (entry.Length > limit) throw new DreamBoothException($"{path}: record {entry.FullName} is {entry.Length} bytes, more than {limit}");
        var bytes = new byte[entry.Length];
        try
        {
            using var s = entry.Open();
            s.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or InvalidDataException)
        {
            throw new DreamBoothException($"{path}: cannot read record {entry.FullName} ({e.Message})");
        }
        return bytes;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";

    /// <inheritdoc/>
    public void Dispose()
    {
        _zip?.Dispose();
        _stream.Dispose();
    }
}
