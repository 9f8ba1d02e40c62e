using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>A tensor's entry in a .safetensors header.</summary>
/// <param name="Name">Tensor name (state-dict key).</param>
/// <param name="DType">Safetensors dtype string (F32, F16, BF16, I64, ...).</param>
/// <param name="Shape">Shape; empty for a 0-d tensor.</param>
/// <param name="Begin">Start offset relative to the data section.</param>
/// <param name="End">End offset (exclusive) relative to the data section.</param>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a 0-d tensor).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The TorchSharp scalar type this entry is stored as.</summary>
    public ScalarType ScalarType => Safetensors.ToScalarType(DType);
}

/// <summary>Limits that keep a hostile file from exhausting memory before anything is allocated.</summary>
/// <param name="MaxHeaderBytes">Largest JSON header accepted (the reference implementation's limit is 100 MB).</param>
/// <param name="MaxTensors">Most tensors one file may declare.</param>
/// <param name="MaxRank">Most dimensions one tensor may have.</param>
public sealed record SafetensorsLimits(long MaxHeaderBytes = 100_000_000, int MaxTensors = 1_000_000, int MaxRank = 16)
{
    public static SafetensorsLimits Default { get; } = new();
}

/// <summary>
/// Reader and writer for the safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then
/// raw little-endian tensor data. Written here rather than taken from TorchSharp.PyBridge because loading must validate
/// every header field with errors that name the file and the tensor, must read each tensor straight into its native
/// buffer (never the whole file into managed memory), and must execute nothing.
/// </summary>
public static class Safetensors
{
    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>Bytes per element of a safetensors dtype string, or null when unknown.</summary>
    public static int? ElementSize(string dtype) => DTypes.TryGetValue(dtype, out var d) ? d.Size : null;

    /// <summary>Maps a safetensors dtype string to a TorchSharp scalar type.</summary>
    public static ScalarType ToScalarType(string dtype) =>
        DTypes.TryGetValue(dtype, out var d) ? d.Type : throw new ArgumentException($"unknown safetensors dtype '{dtype}'");

    /// <summary>Maps a TorchSharp scalar type to its safetensors dtype string.</summary>
    public static string ToDTypeString(ScalarType type)
    {
        foreach (var (k, v) in DTypes)
            if (v.Type == type) return k;
        throw new ArgumentException($"scalar type {type} cannot be stored in safetensors");
    }

    /// <summary>Opens a file and reads and validates its header; tensor data is read on demand.</summary>
    public static SafetensorsReader Open(string path, SafetensorsLimits? limits = null) => new(path, limits ?? SafetensorsLimits.Default);

    /// <summary>Loads every tensor of a file (optionally converting floating-point tensors to <paramref name="floatType"/>).</summary>
    public static Dictionary<string, Tensor> LoadAll(string path, ScalarType? floatType = null)
    {
        using var reader = Open(path);
        return reader.LoadAll(floatType);
    }

    /// <summary>
    /// Writes tensors to <paramref name="path"/> atomically: the file is written beside the target under a temporary
    /// name, flushed to disk and renamed over it, so a crash leaves either the old file or the new one.
    /// Tensor data is streamed one tensor at a time.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
            if (!names.Add(name)) throw new ArgumentException($"duplicate tensor name '{name}'");

        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, t) in list)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is not a valid tensor name");
            var dtype = ToDTypeString(t.dtype);
            long bytes = t.numel() * ElementSize(dtype)!.Value;
            header[name] = new { dtype, shape = t.shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            stream.Write(len);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var (_, t) in list)
            {
                using var scope = NewDisposeScope();
                var c = t.device_type == DeviceType.CPU ? t.contiguous() : t.cpu().contiguous();
                WriteNative(stream, c);
            }
        });
    }

    // Tensor.bytes is a view of the native buffer (no copy) for tensors under 2 GiB; larger ones go through
    // TorchSharp's chunked stream copy.
    private static void WriteNative(Stream stream, Tensor t)
    {
        long total = t.numel() * t.ElementSize;
        if (total == 0) return;
        if (total <= int.MaxValue) stream.Write(t.bytes);
        else t.WriteBytesToStream(stream, 1 << 22);
    }

    internal static void ReadNative(Stream stream, Tensor t, long total)
    {
        if (total == 0) return;
        if (total <= int.MaxValue) stream.ReadExactly(t.bytes);
        else t.ReadBytesFromStream(stream, 1 << 22);
    }
}

/// <summary>An open .safetensors file with a validated header. Tensors are read one at a time into native memory.</summary>
public sealed class SafetensorsReader : IDisposable
{
    private readonly FileStream _stream;
    private readonly long _dataStart;

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Tensor entries by name, in file order.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    internal SafetensorsReader(string path, SafetensorsLimits limits)
    {
        Path = path;
        try
        {
            _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot open weights file ({e.Message})");
        }
        try
        {
            (Entries, Metadata, _dataStart) = ReadHeader(_stream, path, limits);
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    private static (IReadOnlyDictionary<string, SafetensorsEntry>, IReadOnlyDictionary<string, string>, long) ReadHeader(
        FileStream stream, string path, SafetensorsLimits limits)
    {
        long fileLength = stream.Length;
        DreamBoothException Bad(string what) => new($"{path}: not a valid safetensors file: {what}");
        if (fileLength < 8) throw Bad($"file is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen > (ulong)(fileLength - 8))
            throw Bad($"header length {headerLen} runs past the end of the file ({fileLength} bytes; truncated?)");
        if (headerLen > (ulong)limits.MaxHeaderBytes)
            throw Bad($"header length {headerLen} exceeds the limit of {limits.MaxHeaderBytes} bytes");
        if (headerLen < 2) throw Bad($"header length {headerLen} is too small for a JSON object");
        var json = new byte[headerLen];
        stream.ReadExactly(json);
        long dataStart = 8 + (long)headerLen;
        long dataLength = fileLength - dataStart;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad($"header is not valid JSON ({e.Message.Split('\n')[0]})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header JSON is not an object");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string name = prop.Name;
                if (!seen.Add(name)) throw Bad($"tensor '{name}' is declared twice");
                if (name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("'__metadata__' is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"'__metadata__' value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                if (entries.Count >= limits.MaxTensors) throw Bad($"more than {limits.MaxTensors} tensors");
                entries.Add(ParseEntry(name, prop.Value, dataLength, limits, Bad));
            }

            // Offsets must tile the data section exactly, as the reference implementation requires: no overlap, no gap.
            long expected = 0;
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin < expected)
                {
                    var other = entries.First(o => !ReferenceEquals(o, e) && o.Begin < e.End && e.Begin < o.End);
                    throw Bad($"tensor '{e.Name}' data [{e.Begin}, {e.End}) overlaps tensor '{other.Name}' [{other.Begin}, {other.End})");
                }
                if (e.Begin > expected) throw Bad($"tensor '{e.Name}' starts at {e.Begin}, leaving a gap after offset {expected}");
                expected = e.End;
            }
            if (expected != dataLength)
                throw Bad($"tensor data covers {expected} bytes but the file holds {dataLength} bytes after the header");

            var dict = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            foreach (var e in entries) dict[e.Name] = e;
            return (dict, metadata, dataStart);
        }
    }

    private static SafetensorsEntry ParseEntry(string name, JsonElement v, long dataLength, SafetensorsLimits limits, Func<string, DreamBoothException> bad)
    {
        if (name.Length == 0) throw bad("a tensor has an empty name");
        if (v.ValueKind != JsonValueKind.Object) throw bad($"tensor '{name}': entry is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw bad($"tensor '{name}': missing or non-string 'dtype'");
        string dtype = dt.GetString()!;
        int size = Safetensors.ElementSize(dtype) ?? throw bad($"tensor '{name}': unknown dtype '{dtype}'");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw bad($"tensor '{name}': missing or non-array 'shape'");
        if (sh.GetArrayLength() > limits.MaxRank) throw bad($"tensor '{name}': {sh.GetArrayLength()} dimensions, more than {limits.MaxRank}");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw bad($"tensor '{name}': shape entry {d.GetRawText()} is not a non-negative integer");
            shape[i++] = dim;
        }
        // The byte count a shape needs; -1 when it does not fit in 64 bits (a hostile shape, never allocated).
        long needed;
        try
        {
            needed = shape.Contains(0) ? 0 : checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * size);
        }
        catch (OverflowException)
        {
            needed = -1;
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw bad($"tensor '{name}': 'data_offsets' is not a [begin, end] pair");
        var o = off.EnumerateArray().ToArray();
        if (!o[0].TryGetInt64(out long begin) || !o[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw bad($"tensor '{name}': data_offsets {off.GetRawText()} are not 0 <= begin <= end");
        if (end > dataLength)
            throw bad($"tensor '{name}': data_offsets [{begin}, {end}] run past the {dataLength} data bytes in the file (truncated?)");
        if (end - begin != needed)
            throw bad($"tensor '{name}': data_offsets span {end - begin} bytes but {dtype} shape [{string.Join(", ", shape)}] needs {(needed < 0 ? "more than 2^63" : needed.ToString())}");
        foreach (var p in v.EnumerateObject())
            if (p.Name is not ("dtype" or "shape" or "data_offsets")) throw bad($"tensor '{name}': unexpected field '{p.Name}'");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    /// <summary>Reads one tensor; floating-point data is converted to <paramref name="floatType"/> when given.</summary>
    public Tensor Load(string name, ScalarType? floatType = null)
    {
        if (!Entries.TryGetValue(name, out var e)) throw new DreamBoothException($"{Path}: no tensor named '{name}'");
        var t = empty(e.Shape, e.ScalarType);
        try
        {
            lock (_stream)
            {
                _stream.Seek(_dataStart + e.Begin, SeekOrigin.Begin);
                Safetensors.ReadNative(_stream, t, e.End - e.Begin);
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException)
        {
            t.Dispose();
            throw new DreamBoothException($"{Path}: cannot read tensor '{name}' ({ex.Message})");
        }
        if (floatType is { } ft && t.is_floating_point() && t.dtype != ft)
        {
            var c = t.to_type(ft);
            t.Dispose();
            return c;
        }
        return t;
    }

    /// <summary>Reads every tensor.</summary>
    public Dictionary<string, Tensor> LoadAll(ScalarType? floatType = null)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in Entries.Keys) result[name] = Load(name, floatType);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    public void Dispose() => _stream.Dispose();
}
