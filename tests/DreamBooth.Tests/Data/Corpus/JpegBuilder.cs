using System.Buffers.Binary;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>
/// A baseline JPEG writer for flat 8×8 blocks (every block one value per component: DC coefficient only, AC all zero).
/// Hand-written because neither Skia nor .NET can write CMYK (or Adobe-marked) JPEGs, which the decoder must read.
/// With an all-ones quantisation table a flat block of value v has DC = 8·(v − 128), and libjpeg's IDCT gives v back
/// exactly, so the tests know the stored samples precisely.
/// </summary>
internal static class JpegBuilder
{
    /// <summary>
    /// A JPEG of <paramref name="blocksX"/>×<paramref name="blocksY"/> blocks (8 px each) with
    /// <paramref name="components"/> components, no subsampling; <paramref name="value"/>(component, bx, by) gives each
    /// block's sample. Four components get an Adobe APP14 marker (transform 0: CMYK stored inverted, as Photoshop writes it).
    /// </summary>
    public static byte[] FlatBlocks(int blocksX, int blocksY, int components, Func<int, int, int, byte> value)
    {
        using var ms = new MemoryStream();
        void Marker(byte m, byte[] body)
        {
            ms.WriteByte(0xFF); ms.WriteByte(m);
            var len = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(len, (ushort)(body.Length + 2));
            ms.Write(len); ms.Write(body);
        }
        ms.Write([0xFF, 0xD8]);
        if (components == 4) Marker(0xEE, "Adobe"u8.ToArray().Concat(new byte[] { 0, 100, 0, 0, 0, 0, 0 }).ToArray());
        Marker(0xDB, new byte[] { 0 }.Concat(Enumerable.Repeat((byte)1, 64)).ToArray());
        var sof = new List<byte> { 8, (byte)(blocksY * 8 >> 8), (byte)(blocksY * 8), (byte)(blocksX * 8 >> 8), (byte)(blocksX * 8), (byte)components };
        for (var c = 0; c < components; c++) sof.AddRange([(byte)(c + 1), 0x11, 0]);
        Marker(0xC0, sof.ToArray());
        // DC table 0: categories 0..11, each a 4-bit code (0000, 0001, ...). AC table 0: only EOB, code "0".
        var dcCounts = new byte[16]; dcCounts[3] = 12;
        Marker(0xC4, new byte[] { 0x00 }.Concat(dcCounts).Concat(Enumerable.Range(0, 12).Select(i => (byte)i)).ToArray());
        var acCounts = new byte[16]; acCounts[0] = 1;
        Marker(0xC4, new byte[] { 0x10 }.Concat(acCounts).Concat(new byte[] { 0x00 }).ToArray());
        var sos = new List<byte> { (byte)components };
        for (var c = 0; c < components; c++) sos.AddRange([(byte)(c + 1), 0x00]);
        sos.AddRange([0, 63, 0]);
        Marker(0xDA, sos.ToArray());

        var bits = new BitWriter(ms);
        var predictor = new int[components];
        for (var by = 0; by < blocksY; by++)
            for (var bx = 0; bx < blocksX; bx++)
                for (var c = 0; c < components; c++)
                {
                    var dc = 8 * (value(c, bx, by) - 128);
                    var diff = dc - predictor[c];
                    predictor[c] = dc;
                    var category = diff == 0 ? 0 : 32 - int.LeadingZeroCount(Math.Abs(diff));
                    bits.Write(category, 4);
                    if (category > 0) bits.Write(diff > 0 ? diff : diff - 1 + (1 << category), category);
                    bits.Write(0, 1); // EOB
                }
        bits.Flush();
        ms.Write([0xFF, 0xD9]);
        return ms.ToArray();
    }

    /// <summary>A copy of <paramref name="jpeg"/> whose SOF0/SOF2 header claims <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static byte[] WithClaimedSize(byte[] jpeg, int width, int height)
    {
        var copy = (byte[])jpeg.Clone();
        var i = 2;
        while (i + 4 < copy.Length)
        {
            if (copy[i] != 0xFF) throw new InvalidOperationException("marker expected");
            var marker = copy[i + 1];
            var length = BinaryPrimitives.ReadUInt16BigEndian(copy.AsSpan(i + 2));
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 5), (ushort)height);
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 7), (ushort)width);
                return copy;
            }
            i += 2 + length;
        }
        throw new InvalidOperationException("no SOF marker");
    }

    /// <summary>MSB-first bit packing with JPEG byte stuffing (0xFF → 0xFF 0x00) and 1-bit padding.</summary>
    private sealed class BitWriter(Stream s)
    {
        private int _acc, _count;

        public void Write(int value, int length)
        {
            for (var i = length - 1; i >= 0; i--)
            {
                _acc = (_acc << 1) | ((value >> i) & 1);
                if (++_count == 8) Emit();
            }
        }

        public void Flush()
        {
            while (_count != 0) Write(1, 1);
        }

        private void Emit()
        {
            s.WriteByte((byte)_acc);
            if (_acc == 0xFF) s.WriteByte(0);
            _acc = 0; _count = 0;
        }
    }
}
